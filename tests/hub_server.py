"""A minimal Hub-compatible HTTP server on 127.0.0.1 for testing the real huggingface_hub client.

It implements the endpoints huggingface_hub 2.x calls for `create_repo`, `create_branch`, `create_commit` (README
YAML validation, preupload, the LFS batch API with basic PUT transfer + verify, the NDJSON commit) and for downloads
(`repo_info`/`model_info`, the recursive tree listing, HEAD and GET of `resolve/<revision>/<path>` with the `ETag`,
`X-Repo-Commit` and `Content-Length` headers). Xet is not implemented: clients must run with HF_HUB_DISABLE_XET=1.

Every request is recorded (`requests`); `fail_commits_to` holds repo ids whose commits answer HTTP 500; writes need
`Authorization: Bearer <token>`. `with HubServer() as hub: hub.url` serves on a free port and stops at exit.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_SUFFIXES = (".safetensors", ".bin", ".pt")


def git_blob_sha1(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    private: bool
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit oid
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit oid -> {path: content}
    lfs_paths: set[str] = field(default_factory=set)

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None


class HubServer:
    """State + a ThreadingHTTPServer serving it; use as a context manager."""

    def __init__(self, token: str = "hf_test_token"):
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.lfs_blobs: dict[str, bytes] = {}  # sha256 -> content
        self.requests: list[tuple[str, str]] = []
        self.commit_payloads: list[tuple[str, str, list[dict]]] = []  # (repo id, revision, NDJSON lines)
        self.fail_commits_to: set[str] = set()
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo.commits[repo.resolve(revision)]

    # --- write side -------------------------------------------------------------------------------------------------
    def create_repo(self, payload: dict) -> tuple[int, dict]:
        repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") else payload["name"]
        body = {"url": f"{self.url}/{repo_id}", "name": repo_id, "id": repo_id}
        if repo_id in self.repos:
            return 409, {"error": "You already created this model repo", **body}
        empty = hashlib.sha1(repo_id.encode()).hexdigest()
        self.repos[repo_id] = Repo(
            private=payload.get("visibility") == "private", branches={"main": empty}, commits={empty: {}}
        )
        return 200, body

    def commit(self, repo_id: str, revision: str, lines: list[dict]) -> tuple[int, dict]:
        repo = self.repos[repo_id]
        parent = repo.resolve(revision)
        files = dict(repo.commits[parent])
        header = {}
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "header":
                header = value
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                if value["oid"] not in self.lfs_blobs:
                    return 400, {"error": f"LFS object {value['oid']} of {value['path']} was never uploaded"}
                files[value["path"]] = self.lfs_blobs[value["oid"]]
                repo.lfs_paths.add(value["path"])
            elif key in ("deletedFile", "deletedFolder"):
                files = {
                    p: c for p, c in files.items() if p != value["path"] and not p.startswith(value["path"] + "/")
                }
            else:
                return 400, {"error": f"unknown commit operation {key!r}"}
        tree = sorted((path, git_blob_sha1(content)) for path, content in files.items())
        oid = hashlib.sha1(json.dumps([parent, header, tree]).encode()).hexdigest()
        repo.commits[oid] = files
        repo.branches[revision] = oid
        return 200, {"commitUrl": f"{self.url}/{repo_id}/commit/{oid}", "commitOid": oid, "success": True}

    # --- read side --------------------------------------------------------------------------------------------------
    def tree_entry(self, repo: Repo, path: str, content: bytes) -> dict:
        entry = {"type": "file", "path": path, "size": len(content), "oid": git_blob_sha1(content)}
        if path in repo.lfs_paths:
            entry["lfs"] = {"oid": hashlib.sha256(content).hexdigest(), "size": len(content), "pointerSize": 134}
        return entry

    def etag(self, repo: Repo, path: str, content: bytes) -> str:
        return hashlib.sha256(content).hexdigest() if path in repo.lfs_paths else git_blob_sha1(content)


def _make_handler(server: HubServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean; requests are recorded instead
            pass

        # --- helpers ------------------------------------------------------------------------------------------------
        def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _json(self, status: int, payload, headers: dict | None = None, head: bool = False) -> None:
            self._send(
                status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})}, head
            )

        def _error(self, status: int, code: str | None, message: str, head: bool = False, commit: str | None = None):
            headers = {"X-Error-Message": message}
            if code:
                headers["X-Error-Code"] = code
            if commit:
                headers["X-Repo-Commit"] = commit
            self._json(status, {"error": message}, headers, head)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {server.token}":
                return True
            self._error(401, None, "Invalid credentials in Authorization header")
            return False

        def _split(self) -> tuple[list[str], dict]:
            parts = urlsplit(self.path)
            return [unquote(p) for p in parts.path.split("/") if p], parse_qs(parts.query)

        def _repo(self, repo_id: str, head: bool = False) -> Repo | None:
            repo = server.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository {repo_id} not found", head)
            return repo

        def _dispatch(self, method: str) -> None:
            with server.lock:
                server.requests.append((method, self.path))
            segments, query = self._split()
            handled = self._route(method, segments, query)
            if handled is False:
                self._error(404, None, f"no such endpoint: {method} {self.path}", method == "HEAD")

        # --- routes -------------------------------------------------------------------------------------------------
        def _route(self, method: str, s: list[str], query: dict):  # noqa: C901 - one table of endpoints
            api_model = len(s) >= 4 and s[:2] == ["api", "models"]
            if method == "POST" and s == ["api", "repos", "create"]:
                if self._authorised():
                    with server.lock:
                        status, body = server.create_repo(json.loads(self._body()))
                    self._json(status, body)
            elif method == "POST" and s == ["api", "validate-yaml"]:
                content = json.loads(self._body())["content"]
                try:
                    yaml.safe_load(content.split("---")[1])
                    self._json(200, {"errors": [], "warnings": []})
                except (yaml.YAMLError, IndexError) as error:
                    self._json(400, {"errors": [{"message": str(error)}]})
            elif method == "POST" and api_model and len(s) >= 6 and s[4] in ("preupload", "commit", "branch"):
                repo_id, action, revision = f"{s[2]}/{s[3]}", s[4], "/".join(s[5:])
                if self._authorised() and (repo := self._repo(repo_id)) is not None:
                    body = self._body()
                    if action == "preupload":
                        files = json.loads(body)["files"]
                        modes = [
                            {
                                "path": f["path"],
                                "uploadMode": "lfs" if f["path"].endswith(LFS_SUFFIXES) else "regular",
                                "shouldIgnore": False,
                                "oid": None,
                            }
                            for f in files
                        ]
                        self._json(200, {"files": modes, "commitOid": repo.resolve(revision)})
                    elif action == "branch":
                        with server.lock:
                            exists = revision in repo.branches
                            repo.branches.setdefault(revision, repo.branches["main"])
                        self._json(409 if exists else 200, {"error": "branch exists"} if exists else {})
                    elif repo_id in server.fail_commits_to:
                        self._error(500, None, "Internal Error - We're working hard to fix this as soon as possible!")
                    else:
                        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                        with server.lock:
                            server.commit_payloads.append((repo_id, revision, lines))
                            status, payload = server.commit(repo_id, revision, lines)
                        self._json(status, payload)
            elif (
                method == "POST"
                and len(s) == 6
                and s[1].endswith(".git")
                and s[2:] == ["info", "lfs", "objects", "batch"]
            ):
                if self._authorised() and self._repo(f"{s[0]}/{s[1][:-4]}") is not None:
                    objects = json.loads(self._body())["objects"]
                    actions = [
                        {
                            "oid": o["oid"],
                            "size": o["size"],
                            "authenticated": True,
                            "actions": {
                                "upload": {"href": f"{server.url}/lfs-storage/{o['oid']}"},
                                "verify": {"href": f"{server.url}/lfs-verify"},
                            },
                        }
                        for o in objects
                    ]
                    self._json(200, {"transfer": "basic", "objects": actions})
            elif method == "PUT" and len(s) == 2 and s[0] == "lfs-storage":
                content = self._body()
                if hashlib.sha256(content).hexdigest() != s[1]:
                    self._error(400, None, "sha256 mismatch")
                else:
                    with server.lock:
                        server.lfs_blobs[s[1]] = content
                    self._send(200, headers={"ETag": '"' + s[1] + '"'})
            elif method == "POST" and s == ["lfs-verify"]:
                oid = json.loads(self._body())["oid"]
                self._json(200 if oid in server.lfs_blobs else 404, {})
            elif method == "GET" and api_model:
                return self._api_read(s, query)
            elif method in ("GET", "HEAD") and len(s) >= 5 and s[2] == "resolve":
                self._resolve(f"{s[0]}/{s[1]}", s[3], "/".join(s[4:]), head=method == "HEAD")
            else:
                return False
            return True

        def _api_read(self, s: list[str], query: dict):
            repo_id = f"{s[2]}/{s[3]}"
            if (repo := self._repo(repo_id)) is None:
                return True
            if len(s) == 4 or (len(s) >= 6 and s[4] == "revision"):
                revision = "/".join(s[5:]) if len(s) >= 6 else "main"
                if (oid := repo.resolve(revision)) is None:
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                siblings = [{"rfilename": path} for path in sorted(repo.commits[oid])]
                return self._json(
                    200,
                    {
                        "id": repo_id,
                        "modelId": repo_id,
                        "sha": oid,
                        "private": repo.private,
                        "siblings": siblings,
                        "tags": [],
                        "library_name": "transformers",
                    },
                )
            if len(s) >= 6 and s[4] == "tree":
                revision = s[5]
                if (oid := repo.resolve(revision)) is None:
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                prefix = "/".join(s[6:])
                entries = [
                    server.tree_entry(repo, path, content)
                    for path, content in sorted(repo.commits[oid].items())
                    if not prefix or path.startswith(prefix + "/")
                ]
                return self._json(200, entries)
            return False

        def _resolve(self, repo_id: str, revision: str, path: str, head: bool) -> None:
            if (repo := self._repo(repo_id, head)) is None:
                return
            if (oid := repo.resolve(revision)) is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head)
            content = repo.commits[oid].get(path)
            if content is None:
                return self._error(404, "EntryNotFound", f"{path} does not exist on {revision}", head, commit=oid)
            headers = {
                "X-Repo-Commit": oid,
                "ETag": f'"{server.etag(repo, path, content)}"',
                "Content-Type": "application/octet-stream",
                "Accept-Ranges": "bytes",
            }
            start = self.headers.get("Range", "")
            if start.startswith("bytes=") and start.endswith("-") and not head:
                offset = int(start[6:-1])
                headers["Content-Range"] = f"bytes {offset}-{len(content) - 1}/{len(content)}"
                return self._send(206, content[offset:], headers)
            self._send(200, content, headers, head=head)
            return None

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

    return Handler
