r"""The planar flow (Rezende & Mohamed 2015) with an inverse, so any point can be scored.

.. math::
    f(u) = u + \hat{\mathbf u} \tanh(\mathbf w^\top u + b), \qquad
    \log\lvert\det \partial f / \partial u\rvert = \log\lvert 1 + (1 - \tanh^2(\mathbf w^\top u + b))\,
    \mathbf w^\top \hat{\mathbf u}\rvert,

with :math:`\hat{\mathbf u} = \mathbf u + (m(\mathbf w^\top \mathbf u) - \mathbf w^\top \mathbf u)
\mathbf w / \lVert \mathbf w \rVert^2`, :math:`m(a) = -1 + \operatorname{softplus}(a)`, so that
:math:`c = \mathbf w^\top \hat{\mathbf u} > -1` and ``f`` is invertible (Pyro's parameterization).

Pyro's ``Planar`` cannot invert: it scores only the exact tensor it drew (a cache). A path
derivative (STL, DReG) scores a *detached copy* of each draw, and the evaluator and AIS score points
the flow did not draw, so here the inverse is computed. Along :math:`\mathbf w` the flow is scalar:
with :math:`a = \mathbf w^\top u` and :math:`t = \mathbf w^\top z`,

.. math::
    g(a) = a + c \tanh(a + b) - t = 0, \qquad g'(a) = 1 + c\,(1 - \tanh^2(a + b)) > 0,

whose root lies in :math:`[t - |c|, t + |c|]`: found by bisection without gradients, then one
Newton step *with* gradients, :math:`a = a^* - g(a^*)/g'(a^*)`, whose value is :math:`a^*` and whose
gradient is the implicit function's, :math:`-\partial g / g'` (so the inverse is differentiable in the
parameters and in ``z``). Finally :math:`u = z - \hat{\mathbf u} \tanh(a + b)`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Transform, constraints

#: bisection halvings: the root's bracket shrinks from 2|c| by 2^-60, below float64 resolution
BISECTION_STEPS = 60


class InvertiblePlanar(Transform):
    """A planar flow of given parameters ``bias [..., 1]``, ``u [..., D]``, ``w [..., D]`` (broadcast
    over the batch: an amortized flow computes them from each row's context)."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, bias: torch.Tensor, u: torch.Tensor, w: torch.Tensor):
        super().__init__(cache_size=1)
        self.bias, self.w = bias, w
        wu = (w * u).sum(-1, keepdim=True)
        self.u_hat = u + (F.softplus(wu) - 1 - wu) * w / w.pow(2).sum(-1, keepdim=True)
        self.c = (w * self.u_hat).sum(-1, keepdim=True)  # > -1

    def _call(self, u):
        return u + self.u_hat * torch.tanh((self.w * u).sum(-1, keepdim=True) + self.bias)

    def _inverse(self, z):
        t = (self.w * z).sum(-1, keepdim=True)
        c, b = self.c, self.bias
        with torch.no_grad():
            lo, hi = t - c.abs(), t + c.abs()
            lo, hi = torch.broadcast_tensors(lo, hi)
            lo, hi = lo.clone(), hi.clone()
            for _ in range(BISECTION_STEPS):
                mid = (lo + hi) / 2
                above = mid + c * torch.tanh(mid + b) > t
                hi = torch.where(above, mid, hi)
                lo = torch.where(above, lo, mid)
            root = (lo + hi) / 2
        act = torch.tanh(root + b)
        slope = (1 + c * (1 - act.pow(2))).clamp_min(1e-12)
        a = root - (root + c * act - t) / slope  # value: the root; gradient: the implicit function's
        return z - self.u_hat * torch.tanh(a + b)

    def log_abs_det_jacobian(self, u, z):
        act = torch.tanh((self.w * u).sum(-1) + self.bias.squeeze(-1))
        return torch.log1p(self.c.squeeze(-1) * (1 - act.pow(2)))
