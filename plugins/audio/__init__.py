"""The audio plugin: ``POST /api/audio/trim`` (api.md §2.13) and the audio nodes.

Everything audio goes through the ffmpeg binary (``NODELOOM_FFMPEG``, else ``ffmpeg`` on PATH,
else the one bundled with imageio-ffmpeg), driven by :mod:`._ffmpeg`. The route and the
``AudioTrim`` node share :mod:`._trimming`, so a cut made either way is named and placed alike.

Modules: ``_ffmpeg`` (running ffmpeg), ``_trimming`` (trim into ``temp/AudioTrim/``), ``nodes``
(``LoadAudio``, ``AudioTrim``), ``trim_routes`` (the route). Route groups are the modules of this
package that define a module-level ``blueprint``; Quart is imported only when routes are mounted.
"""

from __future__ import annotations

from typing import Any

from nodeloom.kernel import hookimpl

from . import nodes as _nodes


@hookimpl
def register_nodes(register: Any) -> None:
    register([_nodes.load_audio, _nodes.audio_trim])


@hookimpl
def register_routes(register: Any) -> None:
    from nodeloom.api import package_blueprints

    for blueprint in package_blueprints(__name__, __path__):
        register(blueprint)
