"""The importance-weighted family of ``pyro.infer.ELBO`` estimators, registered as ``--loss`` names.

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

from ..losses import register_loss
from .base import ImportanceWeightedELBO
from .dreg import DReG, DReG_IWAE
from .iwae import IWAE
from .miwae import CIWAE, MIWAE, PIWAE
from .stl import STL

__all__ = ["CIWAE", "DReG", "DReG_IWAE", "IWAE", "ImportanceWeightedELBO", "MIWAE", "PIWAE", "STL"]

register_loss("iwae", "IWAE bound, per datapoint (Burda et al. 2015)")(
    lambda num_particles=1: IWAE(num_particles=num_particles))
register_loss("dreg", "IWAE bound, doubly reparameterized guide gradient (Tucker et al. 2018)")(
    lambda num_particles=1: DReG(num_particles=num_particles))
register_loss("stl", "ELBO, path-derivative guide gradient: sticking the landing (Roeder et al. 2017)")(
    lambda num_particles=1: STL(num_particles=num_particles))
register_loss("miwae", "mean of M IWAE_K bounds; --loss-opt num_outer=M (Rainforth et al. 2018)")(
    lambda num_particles=1, num_outer=4: MIWAE(num_inner=num_particles, num_outer=num_outer))
register_loss("ciwae", "beta ELBO + (1-beta) IWAE_K; --loss-opt beta=B (Rainforth et al. 2018)")(
    lambda num_particles=1, beta=0.5: CIWAE(num_particles=num_particles, beta=beta))
register_loss("piwae", "model on IWAE_MK, guide on MIWAE_M,K; --loss-opt num_outer=M (Rainforth et al. 2018)")(
    lambda num_particles=1, num_outer=4: PIWAE(num_inner=num_particles, num_outer=num_outer))
