"""Image routes (api.md §2.9): list, upload (streamed by ``receive_multipart``), download, delete."""

from __future__ import annotations

import asyncio
import io
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from quart.datastructures import FileStorage

from nodeloom.api import create_app
from nodeloom.kernel.host import Kernel
from tests.api.support import auth_headers, client_for, make_settings

TOKEN = auth_headers()
BOUNDARY = "nodeloomtestboundary7MA4YWxk"
ALLOWED = "Allowed: .bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff, .webp"


def images(kernel: Kernel) -> Path:
    return kernel.data_dir.area("images")


def png_bytes(size: tuple[int, int] = (3, 2), color: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def hidden_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


def multipart(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A raw multipart body from ``(field, filename or None, payload)`` parts, in the given order."""
    out = bytearray()
    for field, filename, payload in parts:
        disposition = f'form-data; name="{field}"'
        if filename is not None:
            quoted = filename.replace("\\", "\\\\").replace('"', '\\"')  # RFC 2616 quoted-string
            disposition += f'; filename="{quoted}"'
        out += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            out += b"Content-Type: application/octet-stream\r\n"
        out += b"\r\n" + payload + b"\r\n"
    out += f"--{BOUNDARY}--\r\n".encode()
    return bytes(out)


async def post_raw(client: Any, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    response = await client.post(
        "/api/images/upload",
        data=body,
        headers={**TOKEN, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}", **(headers or {})},
    )
    return response.status_code, await response.get_json()


async def upload(client: Any, filename: str, data: bytes, *, overwrite: str | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, Any]:
    form = {} if overwrite is None else {"overwrite": overwrite}
    files = {"file": FileStorage(stream=io.BytesIO(data), filename=filename, content_type="image/png")}
    response = await client.post("/api/images/upload", files=files, form=form,
                                 headers=TOKEN if headers is None else headers)
    return response.status_code, await response.get_json()


@pytest.fixture
def small_limit_client(kernel: Kernel) -> Callable[[int], Any]:
    """A client over an app whose image limit is ``limit`` bytes."""

    def factory(limit: int) -> Any:
        app = create_app(kernel, make_settings(kernel.data_dir, {"NODELOOM_MAX_IMAGE_BYTES": str(limit)}))

        class _Ctx:
            async def __aenter__(self) -> Any:
                self.ctx = app.test_app()
                await self.ctx.__aenter__()
                return client_for(app)

            async def __aexit__(self, *exc: Any) -> None:
                await self.ctx.__aexit__(*exc)

        return _Ctx()

    return factory


# ---------------------------------------------------------------------------- list


async def test_list_is_empty_at_first(client: Any) -> None:
    response = await client.get("/api/images")
    assert response.status_code == 200 and await response.get_json() == []


async def test_list_every_image_at_any_depth_sorted(client: Any, kernel: Kernel, tmp_path: Path) -> None:
    root = images(kernel)
    (root / "b").mkdir()
    (root / "b" / "deep").mkdir()
    (root / "b" / "deep" / "z.JPG").write_bytes(b"j" * 5)
    (root / "a.png").write_bytes(b"p" * 3)
    (root / "B.webp").write_bytes(b"w")
    (root / "notes.txt").write_text("not an image")
    (root / "noext").write_bytes(b"x")
    (root / ".hidden.png").write_bytes(b"x")
    (root / ".a.png.0123abcd.part").write_bytes(b"x")
    (root / ".cache").mkdir()
    (root / ".cache" / "in_hidden.png").write_bytes(b"x")
    (root / "dir.png").mkdir()  # a folder named like an image is not a file
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"secret")
    (root / "leak.png").symlink_to(outside)
    (root / "inside_link.gif").symlink_to(root / "a.png")
    (root / "loop").symlink_to(root)  # links back up the tree must not loop the walk
    (root / "b" / "deep" / "up").symlink_to(root / "b")
    (root / "alias").symlink_to(root / "b" / "deep")  # a sibling folder: listed under both names
    (root / "broken.png").symlink_to(root / "missing.png")
    (root / "outdir").symlink_to(tmp_path)
    response = await client.get("/api/images")
    assert response.status_code == 200
    listed = await response.get_json()
    assert listed == [
        {"filename": "B.webp", "size": 1},
        {"filename": "a.png", "size": 3},
        {"filename": "alias/z.JPG", "size": 5},
        {"filename": "b/deep/z.JPG", "size": 5},
        {"filename": "inside_link.gif", "size": 3},
    ]


# ---------------------------------------------------------------------------- upload


async def test_upload_streams_a_multi_megabyte_file_byte_for_byte(client: Any, kernel: Kernel) -> None:
    data = secrets.token_bytes(5 * 1024 * 1024 + 17)
    status, body = await upload(client, "big.png", data)
    assert status == 200, body
    assert body == {"filename": "big.png", "size": len(data)}
    assert (images(kernel) / "big.png").read_bytes() == data
    assert hidden_leftovers(images(kernel)) == []
    listed = await (await client.get("/api/images")).get_json()
    assert listed == [{"filename": "big.png", "size": len(data)}]
    response = await client.get("/api/images/download/big.png")
    assert response.status_code == 200 and await response.get_data() == data


@pytest.mark.parametrize(("sent", "stored"), [("cat.png", "cat.png"), ("some/dir/cat.png", "cat.png"),
                                              ("C:\\Users\\me\\cat.PNG", "cat.PNG"), ("été.jpeg", "été.jpeg")])
async def test_upload_drops_the_directory_part(client: Any, kernel: Kernel, sent: str, stored: str) -> None:
    status, body = await post_raw(client, multipart(("file", sent, png_bytes())))
    assert status == 200 and body == {"filename": stored, "size": len(png_bytes())}
    assert sorted(p.name for p in images(kernel).iterdir()) == [stored]


async def test_upload_conflict_and_overwrite(client: Any, kernel: Kernel) -> None:
    assert (await upload(client, "cat.png", b"first"))[0] == 200
    status, body = await upload(client, "cat.png", b"second")
    assert status == 409 and body == {"detail": "File already exists: cat.png", "code": "file_exists"}
    assert (images(kernel) / "cat.png").read_bytes() == b"first"
    assert (await upload(client, "cat.png", b"third", overwrite="false"))[0] == 409
    status, body = await upload(client, "cat.png", b"fourth", overwrite="true")
    assert status == 200 and body == {"filename": "cat.png", "size": 6}
    assert (images(kernel) / "cat.png").read_bytes() == b"fourth"
    assert (await upload(client, "cat.png", b"fifth", overwrite="1"))[0] == 200
    assert hidden_leftovers(images(kernel)) == []


async def test_overwrite_field_after_the_file_part_still_counts(client: Any, kernel: Kernel) -> None:
    (images(kernel) / "cat.png").write_bytes(b"old")
    status, body = await post_raw(client, multipart(("file", "cat.png", b"new"), ("overwrite", None, b"TRUE")))
    assert status == 200, body
    assert (images(kernel) / "cat.png").read_bytes() == b"new"


async def test_a_folder_of_the_same_name_is_never_replaced(client: Any, kernel: Kernel) -> None:
    (images(kernel) / "dir.png").mkdir()
    for overwrite in (None, "true"):
        status, body = await upload(client, "dir.png", b"x", overwrite=overwrite)
        assert status == 409 and body["code"] == "file_exists"
    assert (images(kernel) / "dir.png").is_dir()
    assert hidden_leftovers(images(kernel)) == []


async def test_concurrent_same_name_uploads_one_wins(client: Any, kernel: Kernel) -> None:
    payloads = [secrets.token_bytes(2 * 1024 * 1024) for _ in range(2)]
    results = await asyncio.gather(*(upload(client, "race.png", data) for data in payloads))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409], results
    winner = next(i for i, (status, _) in enumerate(results) if status == 200)
    assert (images(kernel) / "race.png").read_bytes() == payloads[winner]
    assert hidden_leftovers(images(kernel)) == []


async def test_upload_schema_errors(client: Any, kernel: Kernel) -> None:
    status, body = await post_raw(client, multipart(("other", "x.png", b"x"), ("note", None, b"hi")))
    assert status == 422 and body["code"] == "validation_error"
    assert {"loc": ["form", "file"], "msg": "Field required", "type": "missing"} in body["detail"]
    # A text field named "file" is not a file part.
    status, body = await post_raw(client, multipart(("file", None, b"just text")))
    assert status == 422 and body["detail"][0]["loc"] == ["form", "file"]
    status, body = await upload(client, "x.png", b"x", overwrite="maybe")
    assert status == 422 and body["detail"][0]["loc"] == ["form", "overwrite"]
    assert body["detail"][0]["type"] == "wrong_type"
    response = await client.post("/api/images/upload", json={"file": "x"}, headers=TOKEN)
    body = await response.get_json()
    assert response.status_code == 422
    assert body["detail"] == [{"loc": ["body"], "msg": "Expected multipart/form-data", "type": "wrong_type"}]
    assert "success" not in body  # not a Blobit-style route
    assert hidden_leftovers(images(kernel)) == [] and list(images(kernel).iterdir()) == []


async def test_truncated_and_malformed_multipart_bodies_are_422_and_leave_nothing(client: Any,
                                                                                  kernel: Kernel) -> None:
    whole = multipart(("file", "cut.png", b"x" * 4096))
    status, body = await post_raw(client, whole[: len(whole) // 2])
    assert status == 422 and body["code"] == "validation_error"
    response = await client.post("/api/images/upload", data=b"--x\r\n", headers={
        **TOKEN, "Content-Type": "multipart/form-data"})  # no boundary
    assert response.status_code == 422
    assert list(images(kernel).iterdir()) == []


@pytest.mark.parametrize("filename", ["", "dir/", "a\\"])
async def test_upload_without_a_file_name(client: Any, kernel: Kernel, filename: str) -> None:
    status, body = await post_raw(client, multipart(("file", filename, b"data")))
    assert status == 400 and body == {"detail": "No filename provided", "code": "invalid_name"}
    assert list(images(kernel).iterdir()) == []


@pytest.mark.parametrize(("filename", "ext"), [("notes.txt", ".txt"), ("noext", ""), ("x.PNG.EXE", ".exe"),
                                               ("model.safetensors", ".safetensors"), (".png", "")])
async def test_upload_rejects_other_types(client: Any, kernel: Kernel, filename: str, ext: str) -> None:
    status, body = await upload(client, filename, b"data")
    assert status == 400 and body["code"] == "invalid_file_type"
    assert body["detail"] == f"Unsupported file type: {ext}. {ALLOWED}"
    assert list(images(kernel).iterdir()) == []


@pytest.mark.parametrize("filename", [".hidden.png", "C:evil.png", "a:b.png", "tab\there.png", "x" * 252 + ".png",
                                      "..\\..\\.evil.png"])
async def test_upload_rejects_unsafe_names(client: Any, kernel: Kernel, filename: str) -> None:
    status, body = await post_raw(client, multipart(("file", filename, b"data")))
    assert status == 400 and body["code"] == "invalid_path", body
    assert list(images(kernel).iterdir()) == []


async def test_upload_with_control_characters_in_the_name(client: Any, kernel: Kernel) -> None:
    for name in ("nul\x00.png", "del\x7f.png", "esc\x1b.png"):
        status, body = await post_raw(client, multipart(("file", name, b"data")))
        assert status == 400 and body["code"] == "invalid_path", name
    assert list(images(kernel).iterdir()) == []


async def test_upload_through_a_symlink_leaving_the_folder_is_refused(client: Any, kernel: Kernel,
                                                                      tmp_path: Path) -> None:
    outside = tmp_path / "victim.png"
    outside.write_bytes(b"keep")
    (images(kernel) / "linked.png").symlink_to(outside)
    for overwrite in (None, "true"):
        status, body = await upload(client, "linked.png", b"evil", overwrite=overwrite)
        assert status == 400 and body["code"] == "invalid_path"
    assert outside.read_bytes() == b"keep"
    assert hidden_leftovers(images(kernel)) == []


async def test_upload_over_the_limit_is_413_and_leaves_nothing(kernel: Kernel,
                                                               small_limit_client: Callable[[int], Any]) -> None:
    async with small_limit_client(1000) as client:
        # Within limit + multipart slack: refused while streaming, at the first byte over.
        status, body = await upload(client, "big.png", b"x" * 1001)
        assert status == 413 and body == {"detail": "File too large (limit 1000 bytes)", "code": "payload_too_large"}
        assert list(images(kernel).iterdir()) == []
        # Content-Length above limit + 1 MiB: refused before the body is read.
        status, body = await upload(client, "huge.png", b"x" * (1000 + 1024 * 1024 + 1))
        assert status == 413 and body["code"] == "payload_too_large"
        assert list(images(kernel).iterdir()) == []
        status, body = await upload(client, "edge.png", b"x" * 1000)
        assert status == 200 and body == {"filename": "edge.png", "size": 1000}
        assert sorted(p.name for p in images(kernel).iterdir()) == ["edge.png"]


async def test_upload_needs_the_token(client: Any, kernel: Kernel) -> None:
    status, body = await upload(client, "cat.png", b"x", headers={})
    assert status == 403 and body["code"] == "invalid_token"
    assert list(images(kernel).iterdir()) == []


# ---------------------------------------------------------------------------- download


@pytest.mark.parametrize(("name", "mime"), [("a.png", "image/png"), ("a.JPG", "image/jpeg"), ("a.jpeg", "image/jpeg"),
                                            ("a.gif", "image/gif"), ("a.bmp", "image/bmp"), ("a.tif", "image/tiff"),
                                            ("a.TIFF", "image/tiff"), ("a.webp", "image/webp")])
async def test_download_serves_the_mime_type_by_extension(client: Any, kernel: Kernel, name: str, mime: str) -> None:
    (images(kernel) / name).write_bytes(b"bytes of " + name.encode())
    response = await client.get(f"/api/images/download/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == mime
    assert response.headers["Content-Disposition"] == f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"
    assert response.headers["Content-Length"] == str(len(b"bytes of " + name.encode()))
    assert response.headers["Cache-Control"] == "no-store"
    assert await response.get_data() == b"bytes of " + name.encode()


async def test_download_nested_non_ascii_and_head(client: Any, kernel: Kernel) -> None:
    folder = images(kernel) / "sub dir"
    folder.mkdir()
    (folder / 'ça "va".png').write_bytes(b"png")
    response = await client.get("/api/images/download/sub%20dir/%C3%A7a%20%22va%22.png")
    assert response.status_code == 200 and await response.get_data() == b"png"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=\"_a _va_.png\"; filename*=UTF-8''%C3%A7a%20%22va%22.png")
    head = await client.head("/api/images/download/sub%20dir/%C3%A7a%20%22va%22.png")
    assert head.status_code == 200 and head.headers["Content-Length"] == "3"


async def test_download_ignores_range(client: Any, kernel: Kernel) -> None:
    (images(kernel) / "a.png").write_bytes(b"0123456789")
    response = await client.get("/api/images/download/a.png", headers={"Range": "bytes=2-4"})
    assert response.status_code == 200 and await response.get_data() == b"0123456789"


async def test_download_and_delete_errors_in_order(client: Any, kernel: Kernel) -> None:
    root = images(kernel)
    (root / "notes.txt").write_text("text")
    (root / "folder.png").mkdir()
    os.mkfifo(root / "pipe.png")
    cases = [
        ("missing.png", 404, "file_not_found", "File not found: missing.png"),
        ("missing.txt", 404, "file_not_found", "File not found: missing.txt"),
        ("folder.png", 400, "not_a_file", "Not a file: folder.png"),
        ("pipe.png", 400, "not_a_file", "Not a file: pipe.png"),
        ("notes.txt", 400, "invalid_file_type", "Not an image file: notes.txt"),
        ("folder.png/x.png", 404, "file_not_found", "File not found: folder.png/x.png"),
        ("notes.txt/x.png", 404, "file_not_found", "File not found: notes.txt/x.png"),
    ]
    for name, status, code, detail in cases:
        for response in (await client.get(f"/api/images/download/{name}"),
                         await client.delete(f"/api/images/{name}", headers=TOKEN)):
            body = await response.get_json()
            assert (response.status_code, body) == (status, {"detail": detail, "code": code}), name
    assert (root / "notes.txt").exists() and (root / "folder.png").is_dir() and (root / "pipe.png").exists()


# ---------------------------------------------------------------------------- delete


async def test_delete_removes_the_file_and_keeps_folders(client: Any, kernel: Kernel) -> None:
    (images(kernel) / "sub").mkdir()
    (images(kernel) / "sub" / "a.png").write_bytes(b"x")
    response = await client.delete("/api/images/sub/a.png", headers=TOKEN)
    assert response.status_code == 200 and await response.get_json() == {"message": "Deleted sub/a.png"}
    assert not (images(kernel) / "sub" / "a.png").exists() and (images(kernel) / "sub").is_dir()
    response = await client.delete("/api/images/sub/a.png", headers=TOKEN)
    assert response.status_code == 404


async def test_delete_a_symlink_inside_removes_the_link_only(client: Any, kernel: Kernel) -> None:
    (images(kernel) / "real.png").write_bytes(b"x")
    (images(kernel) / "alias.png").symlink_to(images(kernel) / "real.png")
    response = await client.delete("/api/images/alias.png", headers=TOKEN)
    assert response.status_code == 200
    assert not os.path.lexists(images(kernel) / "alias.png") and (images(kernel) / "real.png").exists()


async def test_delete_needs_the_token(client: Any, kernel: Kernel) -> None:
    (images(kernel) / "a.png").write_bytes(b"x")
    response = await client.delete("/api/images/a.png")
    assert response.status_code == 403 and (await response.get_json())["code"] == "invalid_token"
    assert (images(kernel) / "a.png").exists()


# ---------------------------------------------------------------------------- confinement

TRAVERSALS = [
    "../x.png",
    "%2e%2e%2fx.png",
    "%2E%2E/%2E%2E/x.png",
    "a/../../b.png",
    "a/./b.png",
    ".hidden.png",
    "sub/.hidden.png",
    "a//b.png",
    "..%5cx.png",
    "a%5cb.png",
    "nul%00.png",
    "tab%09.png",
    "C:x.png",
    "sub/c:x.png",
    "a/",
    "x" * 300 + ".png",
]


@pytest.fixture
def outside_files(kernel: Kernel, tmp_path: Path) -> list[Path]:
    data = kernel.data_dir.root
    victims = [data / "x.png", data / "b.png", tmp_path / "x.png", data / "secret.png"]
    for victim in victims:
        victim.write_bytes(b"keep")
    hidden = images(kernel) / ".hidden.png"
    hidden.write_bytes(b"keep")
    (images(kernel) / "sub").mkdir()
    (images(kernel) / "sub" / ".hidden.png").write_bytes(b"keep")
    return [*victims, hidden, images(kernel) / "sub" / ".hidden.png"]


@pytest.mark.parametrize("path", TRAVERSALS)
async def test_traversal_is_refused_by_download_and_delete(client: Any, outside_files: list[Path],
                                                           path: str) -> None:
    for response in (await client.get(f"/api/images/download/{path}"),
                     await client.delete(f"/api/images/{path}", headers=TOKEN)):
        body = await response.get_json()
        assert response.status_code == 400, (path, body)
        assert body["code"] == "invalid_path"
    assert all(p.read_bytes() == b"keep" for p in outside_files)


@pytest.mark.parametrize("path", ["/etc/passwd", "//etc/passwd", ""])
async def test_absolute_or_empty_paths_do_not_route(client: Any, outside_files: list[Path], path: str) -> None:
    for response in (await client.get(f"/api/images/download/{path}"),
                     await client.delete(f"/api/images/{path}", headers=TOKEN)):
        body = await response.get_json()
        assert response.status_code in (400, 404, 405), (path, body)
        assert body["code"] in ("invalid_path", "not_found", "method_not_allowed")
    assert all(p.read_bytes() == b"keep" for p in outside_files)
    assert Path("/etc/passwd").exists()


async def test_symlinks_leading_outside_are_refused(client: Any, kernel: Kernel, tmp_path: Path) -> None:
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "x.png").write_bytes(b"keep")
    (images(kernel) / "out.png").symlink_to(outside_dir / "x.png")
    (images(kernel) / "outdir").symlink_to(outside_dir)
    for path in ("out.png", "outdir/x.png"):
        for response in (await client.get(f"/api/images/download/{path}"),
                         await client.delete(f"/api/images/{path}", headers=TOKEN)):
            assert response.status_code == 400 and (await response.get_json())["code"] == "invalid_path"
    assert (outside_dir / "x.png").read_bytes() == b"keep"
    # A link that stays inside the folder is fine.
    (images(kernel) / "real").mkdir()
    (images(kernel) / "real" / "in.png").write_bytes(b"in")
    (images(kernel) / "alias").symlink_to(images(kernel) / "real")
    response = await client.get("/api/images/download/alias/in.png")
    assert response.status_code == 200 and await response.get_data() == b"in"


async def test_symlink_loops_and_over_long_paths_are_400_not_500(client: Any, kernel: Kernel) -> None:
    root = images(kernel)
    (root / "a.png").symlink_to(root / "b.png")
    (root / "b.png").symlink_to(root / "a.png")
    for path in ("a.png", "a.png/x.png"):
        for response in (await client.get(f"/api/images/download/{path}"),
                         await client.delete(f"/api/images/{path}", headers=TOKEN)):
            assert response.status_code == 400 and (await response.get_json())["code"] == "invalid_path"
    # 1024 characters pass the length rule, but 4-byte characters make the path too long for the OS.
    long_path = "/".join(["\U0001F600" * 63] * 16)
    assert len(long_path) <= 1024
    for response in (await client.get(f"/api/images/download/{long_path}"),
                     await client.delete(f"/api/images/{long_path}", headers=TOKEN)):
        assert response.status_code == 400 and (await response.get_json())["code"] == "invalid_path"
    listed = await client.get("/api/images")
    assert listed.status_code == 200 and await listed.get_json() == []


def test_placing_parts_under_the_lock_lets_exactly_one_win(tmp_path: Path) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from nodeloom.api import ApiError
    from nodeloom.plugins.media.image_routes import place_upload

    root = tmp_path / "images"
    root.mkdir()
    parts = []
    for i in range(16):
        part = root / f".upload.{i:02d}.part"
        part.write_bytes(f"payload {i}".encode())
        parts.append(part)
    barrier = threading.Barrier(len(parts))

    def place(part: Path) -> int:
        barrier.wait()
        try:
            place_upload(root, "same.png", part, False)
        except ApiError as exc:
            assert exc.status == 409 and exc.code == "file_exists"
            part.unlink()
            return 409
        return 200

    with ThreadPoolExecutor(len(parts)) as pool:
        statuses = sorted(pool.map(place, parts))
    assert statuses == [200] + [409] * (len(parts) - 1)
    assert sorted(p.name for p in root.iterdir()) == ["same.png"]
    assert (root / "same.png").read_bytes().startswith(b"payload ")
