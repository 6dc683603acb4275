"""Numbers reported in the paper that the claims and figures compare against (docs/claims.md G)."""

# PC1 + PC2 explained variance (%) of the paper's |h|=150, d=100 models (docs/claims.md G.3) and the
# paper's own run-to-run difference for the same model (M=3: 69.3 vs 69.9; M=4: 65.8 vs 66.1)
PAPER_PCA_TOP2 = {"lin2": 69.9, "lin3": 69.3, "lin4": 65.8, "lin5": 60.3, "cyclic": 70.4, "fully": 80.3}
PAPER_PCA_RUN_SPREAD = 0.6
# readout projection onto the PC1-PC2 plane, mean over 3 models per number of states (docs/claims.md G.4)
PAPER_READOUT_PROJECTION = {2: 0.506, 3: 0.318, 4: 0.265, 5: 0.268}
# its SD over the 3 models (the spread of a single-seed group)
PAPER_READOUT_SD = {2: 0.010, 3: 0.005, 4: 0.008, 5: 0.008}
