"""Training wing: fixed point, the approximate memory, the MLP, MNIST, bit energy, training and grids.

Hands to the report wing accuracies and programming energies per memory policy, over seeds.
"""
