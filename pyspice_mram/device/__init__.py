"""Device wing: MTJ parameters, switching statistics, their calibration, and SPICE/Verilog-A generation.

Hands to the circuit wing a device (`MTJParameters`) and its switching law (`SwitchingLaw`).
"""
