"""The eleven mutations of Real et al. (2017, 3.2), by name and in the order
the mutation probabilities use. Plain Python, so that the config can list
them without importing JAX; `mutations.MUTATIONS` maps them to functions."""

MUTATION_NAMES = (
    "alter_learning_rate", "identity", "reset_weights", "insert_convolution",
    "remove_convolution", "alter_stride", "alter_number_of_channels",
    "filter_size", "insert_one_to_one", "add_skip", "remove_skip")
