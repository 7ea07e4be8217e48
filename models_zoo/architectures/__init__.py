"""The architectures of the paper's comparison, one module each; importing this package registers them."""

from models_zoo.architectures import conv_mil, deeploc, densenet, fcn_seg, gapnet_pl, mcnn  # noqa: F401
