"""course_lib: the small, tested library the course notebooks stand on.

Import what a notebook needs from the submodules, e.g.::

    from course_lib import device, data, models, training, plots
"""

from course_lib.device import describe_device, get_device
from course_lib.errors import AssetError, CheckoutError, CourseError
from course_lib.seed import seed_everything

__all__ = [
    "AssetError",
    "CheckoutError",
    "CourseError",
    "describe_device",
    "get_device",
    "seed_everything",
]
__version__ = "0.1.0"
