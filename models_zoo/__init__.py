"""Models of the comparison: architectures, their registry, the released GapNet-PL weights, tiling
of whole images, and model complexity. Plain PyTorch; nothing here imports Django.

Import from the submodules (``models_zoo.registry.create_model`` and so on): importing this package
itself stays cheap, so that Django can load it without loading torch.
"""
