"""Circuit wing: the write circuit in SPICE (ngspice engine), the hybrid and brute-force estimators.

Hands to the sweeps wing one sample's frozen-state transients (`FrozenWrite`): V_MTJ(t) and supply power.
"""
