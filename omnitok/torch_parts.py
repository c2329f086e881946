"""Configs for ``torch.nn`` layers built in Python: a tokenizer assembled from ``torch.nn`` parts can be saved.

``torch.nn`` layers do not record their constructor arguments, but they keep them as attributes of the same name
(``Conv2d.in_channels``, ``kernel_size``, ...; ``bias`` as a parameter or None). :func:`torch_module_config`
reads them back, rebuilds the layer from the result and accepts the config only when the rebuilt layer matches the
original (its ``repr``, parameter names and shapes); otherwise it refuses, naming the part.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import Tensor, nn

from omnitok.errors import ConfigError

_SKIPPED = {"device", "dtype"}  # placement, not structure: the saved weights carry the dtype


def torch_module_config(module: nn.Module, where: str) -> dict[str, Any]:
    """The ``class_path``/``init_args`` config of a ``torch.nn`` layer built in Python (``where`` names it in
    errors).

    Raises:
        ConfigError: the layer's arguments cannot be read back exactly (e.g. ``nn.Sequential``, which takes its
            layers positionally).
    """
    cls = type(module)
    class_path = f"torch.nn.{cls.__name__}" if getattr(nn, cls.__name__, None) is cls else f"{cls.__module__}.{cls.__qualname__}"
    init_args: dict[str, Any] = {}
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.name in _SKIPPED or parameter.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            if len(module._modules) or len(module._parameters):
                raise ConfigError(
                    f"cannot write a config for {where}: {class_path} takes its parts positionally; build that part "
                    "from a config (omnitok.config.instantiate) or as a Configurable module"
                )
            continue
        if not hasattr(module, parameter.name):
            raise ConfigError(f"cannot write a config for {where}: {class_path} does not keep its {parameter.name!r}")
        value = getattr(module, parameter.name)
        if parameter.name == "bias" and (value is None or isinstance(value, Tensor)):
            value = value is not None
        init_args[parameter.name] = list(value) if isinstance(value, tuple) else value
    config = {"class_path": class_path, "init_args": init_args}
    _check_rebuilds(module, config, where)
    return config


def _check_rebuilds(module: nn.Module, config: dict[str, Any], where: str) -> None:
    from omnitok.config import instantiate

    try:
        rebuilt = instantiate(config)
    except ConfigError as err:
        raise ConfigError(f"cannot write a config for {where}: {err}") from None
    shapes = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if repr(rebuilt) != repr(module) or shapes != {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}:
        raise ConfigError(f"cannot write a config for {where}: {config['class_path']}'s arguments cannot be read back")
