"""clipcore: search, classify and label an image collection with CLIP.

The library never imports streamlit; the dashboard (``app.py``, ``app_pages/``, ``ui/``)
and the command line (``python -m clipcore``) stand on it.
"""

from clipcore.errors import (
    ClipcoreError,
    ConfigError,
    InputError,
    ModelUnavailableError,
    WorkspaceError,
)

__version__ = "0.1.0"

UNTRAINED_WARNING = "untrained model - results are not meaningful"

__all__ = [
    "ClipcoreError",
    "ConfigError",
    "InputError",
    "ModelUnavailableError",
    "WorkspaceError",
    "UNTRAINED_WARNING",
    "__version__",
]
