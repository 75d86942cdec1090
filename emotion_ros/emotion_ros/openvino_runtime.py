"""OpenVINO's runtime API (Core, Type, Layout, get_version) under either of its names.

They are top-level `openvino` names since 2023.1, which later dropped
`openvino.runtime`; OpenVINO 2022.3 (the last with the MYRIAD plugin, for
Python <= 3.10) and 2023.0 have them only in `openvino.runtime`.
"""


def openvino_runtime():
    """The module holding OpenVINO's runtime classes in the installed release."""
    import openvino
    if hasattr(openvino, 'Core'):
        return openvino
    import openvino.runtime
    return openvino.runtime
