# Dynamics analyses (issue 3): state space, fixed points, local dynamics, noise sensitivity.
