"""The model zoo: one file per model, each registering itself with ``@register_model``.

Installed as the package ``pyro_vae.zoo``. See ``models/README.md`` for how to add one.
"""
