"""Datasets by name (``--dataset NAME``): every module here registers its loaders with
:func:`pyro_vae.data.registry.register_dataset`, and the registry imports every module of this
package on first use, so a new dataset is one new file here."""
