r"""The generative graph of a declared model, and the guide structure derived from it.

The model is a DAG over the latents and the observed ``x``: each latent has the parents named in
its ``given``, and ``x`` those of the likelihood. The guide samples the latents in an order
:math:`\pi` and lets each one's factor read the variables that make it conditionally independent
of the others drawn before it, given ``x``:

.. math::
    q(z \mid x) = \prod_{v \in \pi} q(z_v \mid \mathrm{pa}_q(v)), \qquad
    \mathrm{pa}_q(v) \subseteq \{x\} \cup \{z_u : u \text{ before } v \text{ in } \pi\}.

:math:`\mathrm{pa}_q` is the *faithful inverse* of the model's graph (Webb et al. 2018, "Faithful
Inversion of Generative Models for Effective Amortized Inference", their NaMI rule): moralize the
model (link every variable to its parents and link each variable's parents to each other, then
forget directions), and eliminate the latents in reverse :math:`\pi`; when ``v`` is eliminated,
its neighbours are :math:`\mathrm{pa}_q(v)` (all drawn earlier, or ``x``), and they are then linked
to each other (the fill-in that marginalizing ``v`` out of the posterior creates). Each factor
then conditions on the Markov blanket of :math:`z_v` in :math:`p(z_v, z_{<v} \mid x)`, so the
guide family can represent the exact posterior: no dependency is left out.

Example: two independent causes of one image, ``a`` and ``b`` both parents of ``x``. Moralizing
links ``a - b`` (explaining away). With :math:`\pi = (b, a)`, ``a`` is eliminated first: its
neighbours are ``x`` and ``b``, so the guide is :math:`q(b \mid x)\,q(a \mid b, x)`; a guide
:math:`q(a \mid x)\,q(b \mid x)` would miss the posterior correlation of ``a`` and ``b``.

Two orders are offered: ``bottom_up`` (the latents nearest ``x`` first: on a chain
:math:`z_L \to \dots \to z_1 \to x` this is :math:`q(z_1 \mid x) \prod q(z_{i+1} \mid z_i)`) and
``top_down`` (the model's own order, top first: on a chain, the ladder guide
:math:`q(z_L \mid x) \prod q(z_i \mid z_{i+1}, x)`).
"""

from __future__ import annotations

from typing import Sequence

X = "x"  # the observed node's name in the graph


def topological_order(parents: dict[str, Sequence[str]]) -> list[str]:
    """Parents before children; ties kept in declaration order (``parents``' key order).

    :raises ValueError: with the cycle as ``"a -> b -> a"`` when there is one.
    """
    order, state = [], {}  # state: 1 = on the current path, 2 = done

    def visit(v, path):
        if state.get(v) == 2:
            return
        if state.get(v) == 1:
            cycle = path[path.index(v):] + [v]
            raise ValueError(" -> ".join(reversed(cycle)))
        state[v] = 1
        for p in parents[v]:
            visit(p, path + [v])
        state[v] = 2
        order.append(v)

    for v in parents:
        visit(v, [])
    return order


def ancestors(node_parents: Sequence[str], parents: dict[str, Sequence[str]]) -> set[str]:
    """Every latent some node with parents ``node_parents`` depends on, directly or not."""
    seen, stack = set(), list(node_parents)
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack.extend(parents[v])
    return seen


def moral_graph(parents: dict[str, Sequence[str]], observed: Sequence[Sequence[str]]) -> dict[str, set]:
    """Undirected adjacency of the moralized model over the latents and :data:`X`.

    ``observed``: the parents of each observed variable (every part of ``x``, a label); all of them
    are given to the guide, so they are one node :data:`X`, but each marries its own parents."""
    adjacent = {v: set() for v in list(parents) + [X]}
    for child, pa in list(parents.items()) + [(X, pa) for pa in observed]:
        for p in pa:
            adjacent[child].add(p)
            adjacent[p].add(child)
        for i, p in enumerate(pa):  # marry the parents
            for q in pa[i + 1:]:
                adjacent[p].add(q)
                adjacent[q].add(p)
    return adjacent


def faithful_inverse(parents: dict[str, Sequence[str]], observed: Sequence[Sequence[str]],
                     order: Sequence[str]) -> dict[str, list[str]]:
    """The guide parents of each latent for the guide order ``order`` (see the module docstring);
    ``observed``: the parents of each observed variable.

    Each latent's guide parents are listed with :data:`X` first, then the latents in ``order``."""
    adjacent = moral_graph(parents, observed)
    rank = {v: i for i, v in enumerate(order)}
    out = {}
    for v in reversed(order):
        neighbours = adjacent.pop(v)
        out[v] = sorted(neighbours, key=lambda u: -1 if u == X else rank[u])
        for u in neighbours:
            adjacent[u].discard(v)
            adjacent[u] |= neighbours - {u}
    return out
