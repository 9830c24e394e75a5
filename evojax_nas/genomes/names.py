"""The eleven mutations of Real et al. (2017, 3.2), by name and in the order
the mutation probabilities use. Plain Python, so that the config can list
them without importing JAX; `mutations.MUTATIONS` maps them to functions."""

MUTATION_NAMES = (
    "alter_learning_rate", "identity", "reset_weights", "insert_convolution",
    "remove_convolution", "alter_stride", "alter_number_of_channels",
    "filter_size", "insert_one_to_one", "add_skip", "remove_skip")

# How many channels INSERT-CONVOLUTION gives its new layer: "input" (the
# paper: its input's) or "output" (beyond the paper: the layer it feeds, so
# that a conv inserted before a wide layer is no narrow bottleneck; after
# the last vertex, its input's).
INSERT_WIDTHS = ("input", "output")
