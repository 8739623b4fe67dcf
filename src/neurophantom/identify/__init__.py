"""System identification: learn the hypergraph -> ODE map; the Rosetta map; identifiability."""
