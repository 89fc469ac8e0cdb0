"""Import a digital library's books through IIIF: manifests in, ``DIR/<book>/<page>.jpg`` out.

sources (manifest / collection URLs or files, or a text file listing them)
-> documents (``importer``: fetched JSON; a collection is followed to its manifests)
-> books (``presentation``: IIIF Presentation 2.1 or 3.0; canvases that paint an image are the pages)
-> page requests (``image_api``: the Image API form and size the service allows)
-> downloads (``fetcher.Fetcher``: polite, bounded, retried, a deadline per request)
-> atomic page files + ``iiif-pages.csv`` (``catalog.metadata``).

Local files as sources are refused unless ``allow_local_files`` is set (the CLI allows
them; an import started from the app does not, unless the config says so).
"""

from clipcore.sources.iiif.fetcher import USER_AGENT, Fetcher, FetchError, FetchPolicy
from clipcore.sources.iiif.image_api import ImageRef, ServiceInfo, choose_image_url, describe_service, image_request
from clipcore.sources.iiif.importer import ImportReport, import_iiif
from clipcore.sources.iiif.presentation import (
    Book,
    ManifestError,
    Page,
    book_folder,
    collection_members,
    parse_manifest,
    pick_language,
    plain_text,
)

__all__ = [
    "USER_AGENT", "Book", "FetchError", "FetchPolicy", "Fetcher", "ImageRef", "ImportReport", "ManifestError",
    "Page", "ServiceInfo", "book_folder", "choose_image_url", "collection_members", "describe_service",
    "image_request", "import_iiif", "parse_manifest", "pick_language", "plain_text",
]
