"""Models of the comparison: architectures, their registry, training, fine-tuning and prediction,
the released GapNet-PL weights, tiling of whole images, model complexity, and the classification
figures that training and analysis share.

The numerical modules (``architectures``, ``registry``, ``tiling``, ``complexity``, ``metrics``) are
plain PyTorch and numpy; runs, training, prediction and the released weights' import store their
results through Django's models. Import from the submodules (``models_zoo.registry.create_model``
and so on): importing this package itself stays cheap, so that Django can load it without torch.
"""
