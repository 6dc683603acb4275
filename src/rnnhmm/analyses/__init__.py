"""The analyses of the paper, one module per analysis, each with ``run(...)`` that its workflow script
calls: :mod:`.state_space`, :mod:`.local`, :mod:`.noise`, :mod:`.subspaces` (dynamics) and :mod:`.kick`,
:mod:`.interventions`, :mod:`.evolution`, :mod:`.readout` (mechanism). Shared numerics: :mod:`.numerics`
(simulation, PCA, Jacobians, group codes), :mod:`.fixed_points`, :mod:`.circuit` (mechanism helpers)."""
