"""The importance-weighted family of ``pyro.infer.ELBO`` estimators; each file registers its
estimators as ``--loss`` names (:func:`pyro_vae.infer.losses.register_loss`).

==========  ======================================  ==========================================
name        class                                   particles
==========  ======================================  ==========================================
``iwae``    :class:`IWAE`                           ``num_particles`` = K
``dreg``    :class:`DReG`                           K
``stl``     :class:`STL`                            K (ELBO averaged over K draws)
``miwae``   :class:`MIWAE`                          ``num_outer`` M x ``num_particles`` K
``ciwae``   :class:`CIWAE`                          K, ``beta``
``piwae``   :class:`PIWAE`                          M x K
==========  ======================================  ==========================================
"""

from .base import ImportanceWeightedELBO
from .dreg import DReG, DReG_IWAE
from .iwae import IWAE
from .miwae import CIWAE, MIWAE, PIWAE
from .stl import STL

__all__ = ["CIWAE", "DReG", "DReG_IWAE", "IWAE", "ImportanceWeightedELBO", "MIWAE", "PIWAE", "STL"]
