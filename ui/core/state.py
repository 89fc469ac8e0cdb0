"""Session-state keys shared by more than one page (one place, so pages agree)."""

WORKSPACE = "workspace_name"  # name of the active collection (the sidebar picker; mirrors ?ws=NAME)
ANNOTATOR = "annotator_name"  # who is labelling in this browser session
DETAIL_IMAGE = "detail_image_id"  # image shown in the detail dialog

SEARCH_SIMILAR = "search_similar_to"  # image id the Search page finds similar images to
SEARCH_PENDING_SIMILAR = "search_pending_similar"  # a "more like this" for Search, applied before its widgets exist
SEARCH_PAGE = "search_page"  # {"sig": query signature, "cursors": [None, Cursor, ...]} where each Search page starts
SEARCH_UPLOAD_KEY = "search_upload_generation"  # bumping it clears the Search page's uploader
ZS_EDITOR_ROWS = "zs_editor_rows"  # (class, prompt) rows loaded into the Zero-shot editor
ZS_LOADED = "zs_loaded_set"  # (name, version) of the prompt set loaded into the editor
ZS_EDITOR_GEN = "zs_editor_generation"  # bumping it reloads the editor widget from ZS_EDITOR_ROWS
HOME_LAST_JOB = "jobs_started_home"  # id of the last job started from Home in this session (ui.widgets.jobs panel key "home")
LABEL_PAGE = "label_page"  # the Label page's page on screen: {"sig", "ids", "scores", "reranked", "gen", "drawn_at"}
LABEL_FLASH = "label_flash"  # (message, icon) shown once on the Label page's next run (set in callbacks)
LABEL_NOTICE = "label_notice"  # (message, icon): a warning kept on the Label page until dismissed or replaced
LABEL_SEEN_EVENT = "label_seen_event"  # the latest label event this session has told its annotator about
