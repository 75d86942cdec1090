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


# OpenVINO inference threads per compiled model on the CPU. OpenVINO's default, a thread per
# core, took ~1.7x the CPU time for the same detection here (11.7 against 6.8 ms per BlazeFace
# call at 30 calls/s on 2 idle cores) for 0.4 ms less wall time: on a robot, whose camera
# sets the rate and whose CPU runs its own software too, the CPU is what counts (README, CPU
# footprint). 0 = OpenVINO's choice.
INFERENCE_THREADS = 1


def precision_hint(precision: str) -> dict:
    """OpenVINO's INFERENCE_PRECISION_HINT for `precision` ('f32', 'bf16', 'f16'); none for ''
    (the device's default). A CPU without bf16 or f16 instructions runs those in f32."""
    return {'INFERENCE_PRECISION_HINT': precision} if precision else {}


def cpu_settings(threads: int = INFERENCE_THREADS, **settings) -> dict:
    """Compile settings for the CPU device: `settings` and `threads` inference threads."""
    return {**settings, **({'INFERENCE_NUM_THREADS': int(threads)} if threads else {})}
