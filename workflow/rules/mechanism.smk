# Mechanism analyses (issue 4): kick neurons, interventions, training evolution, readout alignment.
