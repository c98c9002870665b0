"""Import ImageNet classifiers stored as TensorFlow Lite flatbuffers into timm networks.

The offline ImageNet weights of the development machines are 8-bit quantized ``.tflite`` files
(MobileNetV2 1.0, MobileNet-EdgeTPU; see ``../shared/weights/SOURCES.md``). timm builds the same
architectures (``mobilenetv2_100``, ``mobilenet_edgetpu_100``) with TensorFlow's "same" padding
(``pad_type="same"``: asymmetric on stride-2 convolutions). This module reads the flatbuffer with
the ``tflite`` schema package (PyPI; generated from TensorFlow's ``schema.fbs``) and maps the
graph onto the timm model:

- every ``CONV_2D`` / ``DEPTHWISE_CONV_2D`` operator, in graph order, pairs with the timm
  ``Conv2d`` modules in definition order (``conv_stem``, per block ``conv_dw, conv_pw`` or
  ``conv_pw, conv_dw, conv_pwl``, ``conv_head``); a last 1x1 convolution or ``FULLY_CONNECTED``
  with 1001 outputs is the classifier, whose row 0 ("background") is dropped;
- weights dequantize as ``(q - zero_point) * scale``, per tensor or per output channel; int32
  biases carry their own scale (``input_scale * weight_scale``);
- layouts: ``CONV_2D`` OHWI -> OIHW, ``DEPTHWISE_CONV_2D`` 1HWC -> C1HW;
- BatchNorm is folded into each convolution's bias by the TensorFlow converter: the timm
  BatchNorm after each convolution becomes identity plus that bias (weight 1, running mean 0,
  running variance ``1 - eps``), so the network must stay in eval mode (frozen extractor).

:func:`import_tflite` returns a state dict for ``timm.create_model(name, **TIMM_KWARGS[name])``;
:mod:`mangacolor.core.backbones` installs it as safetensors. Every failure raises
:class:`TFLiteImportError` with a one-line message naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np

__all__ = ["TFLiteImportError", "TIMM_KWARGS", "IMPORTABLE", "tflite_summary", "import_tflite"]

#: timm architectures a ``.tflite`` classifier can be imported into, with the keyword arguments
#: that make timm's layer arithmetic equal to TensorFlow's (SAME padding).
TIMM_KWARGS: dict[str, dict] = {
    "mobilenetv2_100": {"pad_type": "same"},
    "mobilenet_edgetpu_100": {"pad_type": "same"},
}
IMPORTABLE = tuple(TIMM_KWARGS)


class TFLiteImportError(ValueError):
    """A ``.tflite`` file cannot be read or does not match the timm model; one-line message."""


def _op_names() -> dict[int, str]:
    from tflite.BuiltinOperator import BuiltinOperator

    return {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def _dequantize(graph, model, index: int) -> np.ndarray:
    """Tensor ``index`` of ``graph`` as float32 (dequantized when it is quantized)."""
    from tflite.TensorType import TensorType

    tensor = graph.Tensors(index)
    buf = model.Buffers(tensor.Buffer())
    raw = buf.DataAsNumpy() if buf is not None and buf.DataLength() else None
    if raw is None or isinstance(raw, int):
        raise TFLiteImportError(f"tensor {tensor.Name().decode(errors='replace')} has no constant data")
    dtypes = {TensorType.UINT8: np.uint8, TensorType.INT8: np.int8, TensorType.INT32: np.int32,
              TensorType.FLOAT32: np.float32, TensorType.INT16: np.int16, TensorType.FLOAT16: np.float16}
    if tensor.Type() not in dtypes:
        raise TFLiteImportError(f"tensor {tensor.Name().decode(errors='replace')} has unsupported type {tensor.Type()}")
    shape = tuple(int(s) for s in tensor.ShapeAsNumpy())
    values = np.frombuffer(raw.tobytes(), dtype=dtypes[tensor.Type()]).reshape(shape)
    if values.dtype in (np.float32, np.float16):
        return values.astype(np.float32)
    q = tensor.Quantization()
    if q is None or q.ScaleLength() == 0:
        raise TFLiteImportError(f"integer tensor {tensor.Name().decode(errors='replace')} has no quantization scale")
    scale = q.ScaleAsNumpy().astype(np.float64)
    zero = q.ZeroPointAsNumpy().astype(np.float64) if q.ZeroPointLength() else np.zeros_like(scale)
    if scale.size > 1:  # per-channel: broadcast along the quantized dimension
        dim = int(q.QuantizedDimension())
        bshape = [1] * values.ndim
        bshape[dim] = scale.size
        scale, zero = scale.reshape(bshape), zero.reshape(bshape)
    return ((values.astype(np.float64) - zero) * scale).astype(np.float32)


def _read(path: Path):
    try:
        import tflite
    except ImportError:  # pragma: no cover - a declared dependency
        raise TFLiteImportError("reading .tflite files needs the 'tflite' package (pip install tflite)") from None
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TFLiteImportError(f"{path.name}: cannot read ({e.strerror or e})") from None
    # flatbuffer file identifier "TFL3" at bytes 4..8
    if len(data) < 16 or data[4:8] != b"TFL3":
        raise TFLiteImportError(f"{path.name}: not a TensorFlow Lite model (no TFL3 identifier)")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        if model.SubgraphsLength() < 1:
            raise TFLiteImportError(f"{path.name}: the model has no graph")
        graph = model.Subgraphs(0)
        names = _op_names()
        ops = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            kind = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
            ops.append((kind, [op.Inputs(j) for j in range(op.InputsLength())]))
    except TFLiteImportError:
        raise
    except Exception as e:  # a corrupt flatbuffer raises anything from struct.error to IndexError
        raise TFLiteImportError(f"{path.name}: corrupt TensorFlow Lite file ({type(e).__name__})") from None
    return model, graph, ops


def tflite_summary(file: Union[str, Path]) -> dict:
    """What a ``.tflite`` classifier holds: operator counts, convolution count, output classes.

    Returns:
        ``{"operators": {kind: count}, "convolutions": int, "classes": int or None}``.

    Raises:
        TFLiteImportError: unreadable or not a TensorFlow Lite file.
    """
    path = Path(file)
    model, graph, ops = _read(path)
    counts: dict[str, int] = {}
    for kind, _ in ops:
        counts[kind] = counts.get(kind, 0) + 1
    out = graph.Tensors(graph.Outputs(0)) if graph.OutputsLength() else None
    classes = int(out.ShapeAsNumpy()[-1]) if out is not None else None
    return {"operators": counts,
            "convolutions": counts.get("CONV_2D", 0) + counts.get("DEPTHWISE_CONV_2D", 0),
            "classes": classes}


def import_tflite(file: Union[str, Path], name: str) -> dict:
    """Convert a TensorFlow Lite ImageNet classifier into a state dict of timm model ``name``.

    Args:
        file: ``.tflite`` flatbuffer of an ImageNet-1k classifier (1001 outputs, class 0 =
            background, or 1000).
        name: timm architecture it matches, one of :data:`IMPORTABLE`.

    Returns:
        dict tensor name -> float32 ``torch.Tensor`` that loads with ``strict=True`` into
        ``timm.create_model(name, **TIMM_KWARGS[name])`` (1000-class classifier; BatchNorm set to
        identity plus the folded bias, for eval mode). Input convention of the network: RGB
        scaled to [-1, 1], (B, 3, 224, 224).

    Raises:
        TFLiteImportError: unreadable file, unknown architecture, or a graph whose convolutions do
            not pair one-to-one (count and shapes) with the timm model's.
    """
    import timm
    import torch
    from torch import nn

    path = Path(file).expanduser()
    if name not in TIMM_KWARGS:
        raise TFLiteImportError(f"{path.name}: no TensorFlow Lite importer for {name!r} "
                                f"(importable: {', '.join(IMPORTABLE)})")
    tf_model, graph, ops = _read(path)
    net = timm.create_model(name, pretrained=False, **TIMM_KWARGS[name])
    modules = list(net.named_modules())
    convs = []  # (conv name, module, name of the BatchNorm that follows it)
    for i, (mname, mod) in enumerate(modules):
        if isinstance(mod, nn.Conv2d):
            bn = next((n for n, m in modules[i + 1:] if isinstance(m, nn.BatchNorm2d)), None)
            convs.append((mname, mod, bn))
    classifier = net.get_classifier()
    conv_ops = [(k, ins) for k, ins in ops if k in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    fc_ops = [(k, ins) for k, ins in ops if k == "FULLY_CONNECTED"]
    head_op = fc_ops[-1] if fc_ops else (conv_ops.pop() if len(conv_ops) == len(convs) + 1 else None)
    if len(conv_ops) != len(convs) or head_op is None:
        raise TFLiteImportError(f"{path.name} does not match {name}: {len(conv_ops)} convolutions"
                                f"{'' if head_op else ' and no classifier'} in the file, {len(convs)} in the model")
    sd = {k: v.clone() for k, v in net.state_dict().items()}

    def put(key: str, value: np.ndarray) -> None:
        if tuple(sd[key].shape) != value.shape:
            raise TFLiteImportError(f"{path.name} does not match {name}: {key} is {tuple(sd[key].shape)}, "
                                    f"the file's tensor {value.shape}")
        sd[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))

    for (kind, ins), (cname, conv, bn) in zip(conv_ops, convs):
        w = _dequantize(graph, tf_model, ins[1])
        w = w.transpose(3, 0, 1, 2) if kind == "DEPTHWISE_CONV_2D" else w.transpose(0, 3, 1, 2)
        if kind == "DEPTHWISE_CONV_2D" and conv.groups != conv.in_channels:
            raise TFLiteImportError(f"{path.name} does not match {name}: {cname} is not depthwise")
        put(f"{cname}.weight", w)
        bias = _dequantize(graph, tf_model, ins[2]) if len(ins) > 2 and ins[2] >= 0 else np.zeros(w.shape[0], np.float32)
        if conv.bias is not None:
            put(f"{cname}.bias", bias)
            continue
        if bn is None:
            raise TFLiteImportError(f"{path.name} does not match {name}: no BatchNorm after {cname}")
        eps = float(dict(modules)[bn].eps)
        put(f"{bn}.bias", bias)
        put(f"{bn}.weight", np.ones_like(bias))
        put(f"{bn}.running_mean", np.zeros_like(bias))
        put(f"{bn}.running_var", np.full_like(bias, 1.0 - eps))  # sqrt(var + eps) = 1: identity
    kind, ins = head_op
    w = _dequantize(graph, tf_model, ins[1]).reshape(-1, classifier.in_features)
    b = _dequantize(graph, tf_model, ins[2]) if len(ins) > 2 and ins[2] >= 0 else np.zeros(w.shape[0], np.float32)
    if w.shape[0] == classifier.out_features + 1:  # 1001 outputs: drop the "background" class
        w, b = w[1:], b[1:]
    cls_name = next(n for n, m in modules if m is classifier)
    put(f"{cls_name}.weight", w)
    put(f"{cls_name}.bias", b.reshape(-1))
    net.load_state_dict(sd, strict=True)  # every tensor placed, nothing left over
    return sd
