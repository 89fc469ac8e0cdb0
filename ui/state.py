"""Session-state keys shared by more than one page (one place, so pages agree)."""

WORKSPACE = "workspace_name"  # name of the chosen configured workspace
ANNOTATOR = "annotator_name"  # who is labelling in this browser session
DETAIL_IMAGE = "detail_image_id"  # image shown in the detail dialog

