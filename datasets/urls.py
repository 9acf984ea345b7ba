"""Link normalisation: one spelling per link, so the URL store counts a link once however posts
wrote it.

Posts already hold expanded links (``raw_posts.urls`` and ``media_urls``; see
:mod:`datasets.records`), so nothing here touches the network. A link is normalised by:

* keeping only ``http`` and ``https`` links (anything else is not counted);
* lower-casing the scheme and the host, dropping a trailing dot of the host, the user
  information (``user:password@``, which has no place in a report) and the default port (80 for
  http, 443 for https); an empty path becomes ``/``;
* dropping the fragment (``#...``: never sent to the server) and the tracking parameters of the
  query (:data:`TRACKING_PARAMETERS`, and every ``utm_*``); the other parameters keep their order
  and spelling, since a server may read them in order;
* keeping ``www.`` in the URL: ``www.example.com`` and ``example.com`` are different hosts that
  usually, but not always, serve the same page. The domain (:func:`domain_of`) drops it, so a
  domain report groups them.

The path keeps its case and its percent-encoding: servers may treat either as significant.
The domain is the host without ``www.``; ``bin/urls.sh --domain example.com`` also matches its
subdomains, which groups a registrable domain without a public-suffix list. Small code rather
than a library: ``w3lib.canonicalize_url`` sorts query parameters and re-encodes the path (it
may change what a link addresses), and ``url-normalize`` does not drop tracking parameters by
name; what is needed here is a dozen lines over :mod:`urllib.parse`, property-tested in
``tests/test_urls.py``.
"""
from __future__ import annotations

from typing import NamedTuple
from urllib.parse import SplitResult, urlsplit, urlunsplit

# Query parameters that say who sent a click, not what is linked (ad and newsletter click ids,
# share-source markers); with them, one link would count as many.
TRACKING_PARAMETERS = frozenset({
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid", "li_fat_id",
    "mc_cid", "mc_eid", "igshid", "igsh", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "ref_src", "ref_url", "s_cid",
    "vero_id", "oly_anon_id", "oly_enc_id", "rb_clickid", "wickedid",
})
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_CHARS = 4096  # longer "links" are data blobs, not links worth counting


class Link(NamedTuple):
    """A normalised link and its domain."""

    url: str
    domain: str


def _tracking(pair: str) -> bool:
    name = pair.split("=", 1)[0].lower()
    return name in TRACKING_PARAMETERS or name.startswith("utm_")


def normalise(url: str) -> Link | None:
    """``url`` in its one spelling with its domain, or None when it is not an http(s) link with
    a host (or is longer than :data:`MAX_URL_CHARS`)."""
    url = url.strip()
    if not url or len(url) > MAX_URL_CHARS:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port that is not a number, or an unbalanced IPv6 bracket
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host or any(c.isspace() for c in host):
        return None
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    query = "&".join(p for p in parts.query.split("&") if p and not _tracking(p))
    return Link(urlunsplit(SplitResult(scheme, netloc, parts.path or "/", query, "")), domain_of(host))


def domain_of(host: str) -> str:
    """A host as the URL store's domain: lower case, without a trailing dot and without ``www.``."""
    host = host.strip().lower().rstrip(".")
    return host[4:] if host.startswith("www.") and len(host) > 4 else host


def post_links(urls: list[str] | None, media_urls: list[str] | None) -> list[tuple[Link, bool]]:
    """The distinct normalised links of one post, each with whether it is media: a link also
    attached as media counts as media; links that do not normalise are left out."""
    found: dict[str, tuple[Link, bool]] = {}
    for is_media, values in ((True, media_urls or ()), (False, urls or ())):
        for value in values:
            link = normalise(value) if isinstance(value, str) else None
            if link is not None and link.url not in found:
                found[link.url] = (link, is_media)
    return list(found.values())
