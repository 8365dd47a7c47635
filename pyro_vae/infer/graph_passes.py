"""Clean a captured ATen graph (:mod:`.graph_capture`): the same values, fewer operations.

A step traced through Pyro's handlers carries operations a hand-written step does not have, each
costing a dispatch at every replay:

* identities: ``alias(x)``, ``t(t(x))``, ``neg(neg(x))``, ``x / 1``, ``x * 1``, ``x + 0``,
  ``x - 0``, ``x ** 1``, a ``view``/``expand`` to the shape ``x`` already has, a ``_to_copy`` to
  the dtype, layout and device ``x`` already has;
* constants: work on tensors whose values do not depend on any input (a standard-normal prior's
  ``new_zeros``/``new_ones``, their expansions, powers and logs) is computed once at capture and
  kept in the graph as a constant; ``x - c`` and ``x + c`` with ``c`` all zeros and ``x * c``,
  ``x / c`` with ``c`` all ones then drop too;
* broadcast work: a pointwise operation or a sum on tensors that are only expansions of smaller
  ones (the guide's ``[B, D]`` parameters scored at ``[K, B, D]`` particles, a closed-form KL) is
  computed on the small tensors and expanded after (:func:`sink_expands`).

Each rewrite computes every element from the same elements by the same operation. The results
are bit for bit the eager ones on the zoo models (tested), but not always: a moved operation runs
on a contiguous tensor instead of a strided broadcast, and torch may take another kernel path
there (vectorized or not), which can change the last bit (seen once: 2e-8 in a Monte Carlo KL
of a hand-written pair with a discrete latent). Random and in-place operations are
never folded: every replay still draws its own noise.
"""

from __future__ import annotations

import torch
from torch import fx

aten = torch.ops.aten

#: operations whose value does not depend on the values of their tensor arguments
DATA_FREE = {aten.new_zeros.default, aten.new_ones.default, aten.zeros_like.default, aten.ones_like.default,
             aten.scalar_tensor.default, aten.full.default, aten.zeros.default, aten.ones.default}
FOLDED = "_folded_"  # the name prefix of the constants fold_constants adds
_SCALAR_IDENTITY = {aten.div.Tensor: 1, aten.mul.Tensor: 1, aten.add.Tensor: 0, aten.sub.Tensor: 0,
                    aten.pow.Tensor_Scalar: 1, aten.mul.Scalar: 1, aten.div.Scalar: 1}


def _val(node):
    value = node.meta.get("val") if isinstance(node, fx.Node) else None
    return value if isinstance(value, torch.Tensor) else None


def _same_tensor_kind(a, b) -> bool:
    va, vb = _val(a), _val(b)
    return (va is not None and vb is not None and va.shape == vb.shape and va.dtype == vb.dtype
            and va.device == vb.device and va.stride() == vb.stride())


def _identity_input(node: fx.Node):
    """The node this one equals, if it is an identity (module docstring), else None."""
    target, args = node.target, node.args
    if target == aten.alias.default:
        return args[0]
    if target in (aten.t.default, aten.neg.default) and isinstance(args[0], fx.Node) and args[0].target == target:
        return args[0].args[0]
    if target in _SCALAR_IDENTITY and len(args) == 2 and not isinstance(args[1], fx.Node) \
            and args[1] == _SCALAR_IDENTITY[target] and not node.kwargs and _same_tensor_kind(node, args[0]):
        return args[0]
    if target in (aten.view.default, aten.expand.default, aten._to_copy.default) and _same_tensor_kind(node, args[0]):
        if target != aten._to_copy.default or set(node.kwargs) <= {"dtype", "layout", "device"}:
            return args[0]
    return None


def _is_foldable(node: fx.Node) -> bool:
    if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
        return False
    name = node.target._schema.name
    if name.endswith("_") or "empty" in name or torch.Tag.nondeterministic_seeded in node.target.tags:
        return False
    return not node.target._schema.is_mutable


def _stand_in(value):
    """An uninitialized real tensor like ``value`` (a traced node's fake tensor)."""
    return None if value is None else torch.empty(value.shape, dtype=value.dtype, device=value.device)


def fold_constants(gm: fx.GraphModule) -> int:
    """Replace every operation whose value no input decides by a constant; returns how many."""
    constants: dict = {}
    folded = 0
    for node in gm.graph.nodes:
        if not _is_foldable(node):
            continue
        if node.target in DATA_FREE:  # a stand-in of the argument's shape, dtype and device will do
            args = [(_stand_in(_val(a)) if isinstance(a, fx.Node) else a) for a in node.args]
        elif node.all_input_nodes and all(a in constants for a in node.all_input_nodes):
            args = [constants[a] if isinstance(a, fx.Node) else a for a in node.args]
        else:
            continue
        kwargs = {k: (constants[v] if isinstance(v, fx.Node) else v) for k, v in node.kwargs.items()}
        if any(a is None for a in args):
            continue
        with torch.no_grad():
            constants[node] = node.target(*args, **kwargs)
    for node, value in constants.items():
        if not isinstance(value, torch.Tensor) or not node.users:
            continue
        if all(user in constants for user in node.users):
            continue  # only feeds other constants: dropped with them
        name = f"{FOLDED}{folded}"
        gm.register_buffer(name, value.clone())
        with gm.graph.inserting_before(node):
            const = gm.graph.get_attr(name)
        const.meta["val"] = value
        node.replace_all_uses_with(const)
        folded += 1
    return folded


def _constant_value(node) -> "float | None":
    """The single value of a folded constant filled with one value, else None."""
    if not isinstance(node, fx.Node) or node.op != "get_attr" or not str(node.target).startswith(FOLDED):
        return None  # (the tracer's own constants, parameters read as attributes, carry fake values)
    value = node.meta.get("val")
    if value is None or value.numel() == 0:
        return None
    first = value.reshape(-1)[0]
    return float(first) if bool((value == first).all()) else None


def drop_neutral_constants(gm: fx.GraphModule) -> int:
    """``x - 0``, ``x + 0``, ``x * 1``, ``x / 1`` with a folded constant operand of x's shape or
    broadcast into it (the result keeps x's shape, dtype and device)."""
    neutral = {aten.sub.Tensor: 0.0, aten.add.Tensor: 0.0, aten.mul.Tensor: 1.0, aten.div.Tensor: 1.0}
    dropped = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in neutral or len(node.args) != 2 or node.kwargs:
            continue
        x, c = node.args
        if _constant_value(c) == neutral[node.target] and isinstance(x, fx.Node) and _same_tensor_kind(node, x):
            node.replace_all_uses_with(x)
            dropped += 1
    return dropped


def _small_form(node, dtype) -> "tuple | None":
    """``(small, shape)`` when ``node`` is ``expand(small)`` or a folded constant of one value
    (``small``: that value as a 0-dim constant), in ``dtype``; else None."""
    if not isinstance(node, fx.Node):
        return None
    value = _val(node)
    if value is None or value.dtype != dtype:
        return None
    if node.op == "call_function" and node.target == aten.expand.default:
        small = _val(node.args[0])
        return (node.args[0], tuple(small.shape)) if small is not None and small.dtype == dtype else None
    if _constant_value(node) is not None:
        return node, ()
    return None


def _is_pointwise(node: fx.Node) -> bool:
    target = node.target
    return (node.op == "call_function" and isinstance(target, torch._ops.OpOverload)
            and torch.Tag.pointwise in target.tags and not target._schema.is_mutable
            and torch.Tag.nondeterministic_seeded not in target.tags and not node.kwargs)


def _scalar_constant(gm: fx.GraphModule, node: fx.Node, cache: dict) -> fx.Node:
    """A 0-dim copy of the one-valued folded constant ``node``."""
    if node not in cache:
        value = _val(node)
        name = f"{FOLDED}scalar_{len(cache)}"
        gm.register_buffer(name, value.reshape(-1)[:1].reshape(()).clone())
        with gm.graph.inserting_before(node):
            cache[node] = gm.graph.get_attr(name)
        cache[node].meta["val"] = getattr(gm, name)
    return cache[node]


def _scalar_operands(gm: fx.GraphModule, node: fx.Node, forms: list, scalars: dict) -> int:
    """In a pointwise ``node`` whose other operands already have its shape, each one-valued folded
    constant operand read as a 0-dim scalar (the same value against every element)."""
    tensors = [a for a in node.args if isinstance(a, fx.Node)]
    rest = [tuple(_val(a).shape) for a, f in zip(tensors, forms) if f is None or f[1] != ()]
    if not rest or any(_val(a) is None for a in tensors) or torch.broadcast_shapes(*rest) != _val(node).shape:
        return 0
    swap = {a: _scalar_constant(gm, a, scalars) for a, f in zip(tensors, forms) if f is not None and f[1] == ()}
    if not swap:
        return 0
    node.args = tuple(swap.get(a, a) if isinstance(a, fx.Node) else a for a in node.args)
    return 1


def sink_expands(gm: fx.GraphModule) -> int:
    """Compute on the small tensors behind broadcasts: ``f(expand(a), expand(b)) ->
    expand(f(a, b))`` for a pointwise ``f`` whose tensor arguments are all expansions (or folded
    constants of one value), and ``sum(expand(a), dims) -> expand(sum(a, dims))`` when ``dims``
    are not among the expanded ones. A VAE's guide and its closed-form KL live on ``[B, D]`` but
    are broadcast to the particles ``[K, B, D]`` before Pyro scores them; this moves that work
    back to ``[B, D]``. Each element is computed from the same elements by the same operation (to
    the last bit, up to the kernel path: module docstring). A graph output is materialized after
    the move (it must not be a broadcast view: gradients are accumulated into in place); tensors
    an in-place operation uses are left as they are. Returns how many operations moved."""
    moved = 0
    scalars: dict = {}
    for node in list(gm.graph.nodes):
        value = _val(node)
        if value is None or any(user.op == "call_function" and isinstance(user.target, torch._ops.OpOverload)
                                and user.target._schema.is_mutable for user in node.users):
            continue
        shape = tuple(value.shape)
        if _is_pointwise(node):
            tensors = [a for a in node.args if isinstance(a, fx.Node)]
            forms = [_small_form(a, value.dtype) for a in tensors]
            if not tensors or all(f is not None and f[1] == () for f in forms):
                continue
            if any(f is None for f in forms):  # cannot move: at least read one-valued constants as scalars
                moved += _scalar_operands(gm, node, forms, scalars)
                continue
            small_shape = torch.broadcast_shapes(*[f[1] for f in forms])
            if len(small_shape) > len(shape) or torch.Size(small_shape).numel() >= value.numel():
                continue
            smalls = {a: (_scalar_constant(gm, a, scalars) if f[1] == () else f[0]) for a, f in zip(tensors, forms)}
            args = tuple(smalls.get(a, a) if isinstance(a, fx.Node) else a for a in node.args)
        elif node.op == "call_function" and node.target == aten.sum.dim_IntList and not node.kwargs:
            form = _small_form(node.args[0], value.dtype)
            if form is None or form[1] == () or node.args[1] is None:
                continue
            big = tuple(_val(node.args[0]).shape)
            small, small_shape = form
            dims = [d - len(big) if d >= 0 else d for d in node.args[1]]
            if any(-d > len(small_shape) or small_shape[d] != big[d] for d in dims):
                continue  # a summed dim is an expanded one
            args = (small, dims) + tuple(node.args[2:])
        else:
            continue
        with gm.graph.inserting_before(node):
            computed = gm.graph.call_function(node.target, args)
            computed.meta["val"] = node.target(*[_stand_in(_val(a)) if isinstance(a, fx.Node) else a for a in args])
            expanded = gm.graph.call_function(aten.expand.default, (computed, list(shape)))
            expanded.meta["val"] = computed.meta["val"].expand(shape)
            if any(user.op == "output" for user in node.users):  # an output is materialized, not a broadcast view
                expanded = gm.graph.call_function(aten.clone.default, (expanded,),
                                                  {"memory_format": torch.contiguous_format})
                expanded.meta["val"] = computed.meta["val"].expand(shape).clone(memory_format=torch.contiguous_format)
        node.replace_all_uses_with(expanded)
        gm.graph.erase_node(node)
        moved += 1
    return moved


def simplify(gm: fx.GraphModule) -> fx.GraphModule:
    """All the rewrites above, to a fixed point, then dead code removed."""
    fold_constants(gm)
    sink_expands(gm)
    changed = True
    while changed:
        changed = False
        for node in list(gm.graph.nodes):
            if node.op == "call_function":
                same = _identity_input(node)
                if same is not None:
                    node.replace_all_uses_with(same)
                    changed = True
        changed = drop_neutral_constants(gm) > 0 or changed
        gm.graph.eliminate_dead_code()
    gm.graph.lint()
    gm.recompile()
    return gm


def op_count(gm: fx.GraphModule) -> int:
    """Operations the replay dispatches (calls, not inputs, constants or the output)."""
    return sum(1 for n in gm.graph.nodes if n.op == "call_function")
