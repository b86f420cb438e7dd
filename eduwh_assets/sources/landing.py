"""The landing zone: delivery folders in a local folder or an Azure Blob container.

One code path serves both: everything goes through an fsspec filesystem, local
or `adlfs`. This module only lists and reads; it never writes to the zone.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import fsspec

MANIFEST_NAME = "_manifest.json"
DELIVERY_CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

# Which bronze source a delivered file feeds, by its name.
SOURCE_FILE_PATTERNS: dict[str, tuple[str, ...]] = {
    "attendance": ("attendance*.csv",),
    "assessments": ("assessments*.json", "assessments*.jsonl"),
}


class LandingZoneError(RuntimeError):
    """The landing zone cannot be reached or read. The message names the zone, never a secret."""


class ManifestError(ValueError):
    """A delivery's `_manifest.json` is present but unusable."""


def is_valid_delivery_code(code: str) -> bool:
    return bool(DELIVERY_CODE_PATTERN.match(code))


def source_of(file_name: str) -> str | None:
    """The source ('attendance' or 'assessments') a file name belongs to, or None."""
    for source, patterns in SOURCE_FILE_PATTERNS.items():
        if any(fnmatch.fnmatchcase(file_name, p) for p in patterns):
            return source
    return None


@dataclass(frozen=True)
class DeliveredFile:
    delivery_code: str
    name: str
    path: str  # path inside the filesystem, as fsspec wants it
    size: int
    version: str  # etag or modification time: changes when the file is re-delivered

    @property
    def source(self) -> str | None:
        return source_of(self.name)

    @property
    def fingerprint(self) -> str:
        return f"{self.size}:{self.version}"


@dataclass(frozen=True)
class Manifest:
    delivery_code: str
    rows: dict[str, int]  # file name -> row count the sender declares

    @classmethod
    def parse_bytes(cls, data: bytes, *, folder: str) -> "Manifest":
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ManifestError(
                f"{folder}/{MANIFEST_NAME}: not UTF-8 text (line {line}, byte {exc.start + 1})"
            ) from None
        return cls.parse(text, folder=folder)

    @classmethod
    def parse(cls, text: str, *, folder: str) -> "Manifest":
        where = f"{folder}/{MANIFEST_NAME}"
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{where}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
        if not isinstance(doc, dict):
            raise ManifestError(f"{where}: expected a JSON object")
        code = doc.get("delivery_code")
        if code != folder:
            raise ManifestError(f"{where}: delivery_code {code!r} does not match the folder name {folder!r}")
        files = doc.get("files")
        if not isinstance(files, dict):
            raise ManifestError(f"{where}: 'files' must be an object of file name -> {{\"rows\": n}}")
        rows: dict[str, int] = {}
        for name, entry in files.items():
            count = entry.get("rows") if isinstance(entry, dict) else None
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ManifestError(f"{where}: files.{name}.rows must be a non-negative integer, got {count!r}")
            rows[name] = count
        return cls(delivery_code=code, rows=rows)


@dataclass
class Delivery:
    code: str
    manifest: Manifest
    files: list[DeliveredFile]  # data files present and listed in the manifest: the delivery's content
    unlisted: list[str] = field(default_factory=list)  # data files present but not in the manifest

    @property
    def fingerprint(self) -> str:
        """Changes whenever any file of the delivery, or its manifest, changes."""
        parts = [f"{f.name}={f.fingerprint}" for f in self.files] + [f"manifest={sorted(self.manifest.rows.items())}"]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    def files_for(self, source: str) -> list[DeliveredFile]:
        """This delivery's files of one source, in name order (the order rows are ranked in)."""
        return sorted((f for f in self.files if f.source == source), key=lambda f: f.name)


@dataclass
class Discovery:
    """What a scan of the landing zone found."""

    complete: list[Delivery] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)  # valid code, no manifest yet
    invalid: list[str] = field(default_factory=list)  # folder names that are not delivery codes
    broken: dict[str, str] = field(default_factory=dict)  # code -> why its manifest is unusable

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.complete]

    def problems(self) -> list[str]:
        out = [f"skipped folder {name!r}: not a valid delivery code" for name in self.invalid]
        out += [f"delivery {code!r} is incomplete: no {MANIFEST_NAME} yet" for code in self.incomplete]
        out += [f"delivery {code!r} skipped: {why}" for code, why in self.broken.items()]
        out += [
            f"delivery {d.code!r}: {name} is not listed in its {MANIFEST_NAME}, so it is not loaded"
            for d in self.complete
            for name in d.unlisted
        ]
        return out


class ZoneFile:
    """A landing-zone file open for reading (`LandingZone.open_file`).

    Reads go to the fsspec file (adlfs fetches Azure blobs in ranges as they are
    read); their errors become LandingZoneError, as `read_bytes` reports them.
    """

    def __init__(self, stream: Any, zone_url: str, path: str):
        self._stream = stream
        self._zone_url = zone_url
        self._path = path

    @property
    def closed(self) -> bool:
        return self._stream.closed

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise LandingZoneError(
                f"landing zone {self._zone_url}: cannot read {self._path}: {type(exc).__name__}"
            ) from None

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> "ZoneFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LandingZone:
    """A landing zone, local (`/path`, `file:///path`) or Azure (`az://container[/prefix]`)."""

    def __init__(self, url: str, azure_connection_string: str | None = None):
        self.url = url
        if url.startswith(("az://", "abfs://")):
            if not azure_connection_string:
                raise LandingZoneError(
                    f"landing zone {url} is an Azure container, but EDUWH_AZURE_CONNECTION_STRING is not set"
                )
            import adlfs

            self.fs: fsspec.AbstractFileSystem = adlfs.AzureBlobFileSystem(connection_string=azure_connection_string)
            self.root = url.split("://", 1)[1].strip("/")
            self.is_azure = True
            self._connection_string = azure_connection_string
            self._checked = False
        else:
            self.fs = fsspec.filesystem("file")
            self.root = url[len("file://") :] if url.startswith("file://") else url
            self.root = self.root.rstrip("/") or "/"
            self.is_azure = False

    @classmethod
    def from_settings(cls, settings: Any) -> "LandingZone":
        return cls(settings.landing, settings.azure_connection_string)

    def __repr__(self) -> str:
        return f"LandingZone({self.url!r})"

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def check_reachable(self) -> None:
        """Fail fast, with the zone's name, when Azure cannot be reached.

        The Azure SDK retries with back-off for over a minute before giving up;
        one probe without retries turns that into a prompt, clear error.
        """
        if not self.is_azure or self._checked:
            return
        from azure.storage.blob import BlobServiceClient

        container = self.root.split("/", 1)[0]
        try:
            client = BlobServiceClient.from_connection_string(
                self._connection_string, retry_total=0, connection_timeout=10, read_timeout=30
            )
            exists = client.get_container_client(container).exists()
        except Exception as exc:
            raise LandingZoneError(f"landing zone {self.url} is unreachable: {type(exc).__name__}") from None
        if not exists:
            raise LandingZoneError(f"landing zone {self.url}: container {container!r} does not exist")
        self._checked = True

    def _listing(self, path: str) -> list[dict[str, Any]]:
        self.check_reachable()
        # fsspec shares filesystem instances, and their listing caches, across a process; a
        # sensor in a long-lived code server must see folders that landed since its last look.
        self.fs.invalidate_cache(path)
        try:
            return self.fs.ls(path, detail=True)
        except FileNotFoundError:
            return []
        except Exception as exc:  # network, auth, missing container: name the zone, not the secret
            raise LandingZoneError(f"landing zone {self.url} is unreachable: {type(exc).__name__}") from None

    def folder_names(self) -> list[str]:
        return sorted(
            entry["name"].rstrip("/").rsplit("/", 1)[-1]
            for entry in self._listing(self.root)
            if entry.get("type") == "directory"
        )

    def read_bytes(self, path: str) -> bytes:
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise LandingZoneError(f"landing zone {self.url}: cannot read {path}: {type(exc).__name__}") from None

    def open_file(self, path: str) -> "ZoneFile":
        """`path` open for reading in binary, in blocks; errors are reported like read_bytes'.

        FileNotFoundError (the file went away) passes through as it is; any other error,
        on opening or on any read, is a LandingZoneError naming the zone and the file.
        """
        try:
            stream = self.fs.open(path, "rb")
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise LandingZoneError(f"landing zone {self.url}: cannot read {path}: {type(exc).__name__}") from None
        return ZoneFile(stream, self.url, path)

    def delivery(self, code: str) -> Delivery | None:
        """The complete delivery `code`, or None while it has no manifest.

        Raises ManifestError when the manifest exists but is unusable.
        """
        entries = self._listing(self._path(code))
        names = {e["name"].rstrip("/").rsplit("/", 1)[-1]: e for e in entries if e.get("type") == "file"}
        if MANIFEST_NAME not in names:
            return None
        manifest = Manifest.parse_bytes(self.read_bytes(names[MANIFEST_NAME]["name"]), folder=code)
        files = [
            DeliveredFile(
                delivery_code=code,
                name=name,
                path=entry["name"],
                size=int(entry.get("size") or 0),
                version=str(entry.get("etag") or entry.get("last_modified") or entry.get("mtime") or ""),
            )
            for name, entry in sorted(names.items())
            if source_of(name) is not None and name in manifest.rows
        ]
        # The manifest is the delivery's content: a data file it does not list is not loaded.
        unlisted = sorted(name for name in names if source_of(name) is not None and name not in manifest.rows)
        return Delivery(code=code, manifest=manifest, files=files, unlisted=unlisted)

    def discover(self) -> Discovery:
        """Scan every folder: complete deliveries in code order, and what was skipped and why."""
        found = Discovery()
        for name in self.folder_names():
            if not is_valid_delivery_code(name):
                found.invalid.append(name)
                continue
            try:
                delivery = self.delivery(name)
            except ManifestError as exc:
                found.broken[name] = str(exc)
                continue
            if delivery is None:
                found.incomplete.append(name)
            else:
                found.complete.append(delivery)
        return found
