#!/usr/bin/python3
"""An RTSP/H.264 camera for the edge's RTSP tests: Debian's GStreamer RTSP server.

Nobody here wrote the server: this script only configures GStreamer's RTSP server
(gst-rtsp-server, through its GObject bindings) with a moving test picture, the way a
small program embedding it in a camera would. Run it with Debian's Python, which has the
bindings (a pyenv or virtualenv python3 does not):

    /usr/bin/python3 tests/gst_rtsp_server.py --port 0 [--size 640x480] [--fps 15]
        [--gop 30] [--path /cam] [--user U --password P [--auth digest|basic]]

Prints "gst-rtsp-server listening on rtsp://127.0.0.1:PORT/PATH" once it serves (with
--port 0 the port the kernel picked). Serves RTP over TCP (interleaved) and over UDP;
one encoder shared by every client. With --user, every request needs that login (401
otherwise). SIGTERM or SIGINT stops it cleanly.

Debian packages: gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-base
(videotestsrc) gstreamer1.0-plugins-good (rtph264pay) gstreamer1.0-plugins-ugly (x264enc).
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

# The role a logged-in client gets, and what it may do with the factory: without this
# role on the factory every DESCRIBE is answered 503.
ROLE = "user"


def size(text):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not WxH: {text}")
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise argparse.ArgumentTypeError(f"not an even, positive WxH: {text}")
    return w, h


def launch_line(width, height, fps, gop):
    """The media pipeline: a ball moving over a black picture, H.264, RTP payloader pay0."""
    return (
        "( videotestsrc is-live=true pattern=ball"
        f" ! video/x-raw,width={width},height={height},framerate={fps}/1"
        " ! videoconvert"
        f" ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop}"
        " ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


def login(server, factory, user, password, method):
    """Every request must carry `user`/`password` (Basic or Digest); nothing anonymous."""
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", ROLE)
    if method == "digest":
        auth.add_digest(user, password, token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
    else:
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
    server.set_auth(auth)
    permissions = GstRtspServer.RTSPPermissions()
    permissions.add_role_from_structure(
        Gst.Structure.new_from_string(
            f"{ROLE}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
    )
    factory.set_permissions(permissions)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    p.add_argument("--size", type=size, default=(640, 480), metavar="WxH")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--gop", type=int, default=30, help="frames from one keyframe to the next, at most")
    p.add_argument("--path", default="/cam")
    p.add_argument("--user")
    p.add_argument("--password", default="")
    p.add_argument("--auth", choices=["basic", "digest"], default="digest")
    args = p.parse_args()
    if not args.path.startswith("/"):
        p.error("--path must start with /")
    if args.fps <= 0 or args.gop <= 0:
        p.error("--fps and --gop must be positive")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(*args.size, args.fps, args.gop))
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP | GstRtsp.RTSPLowerTrans.UDP)
    if args.user is not None:
        login(server, factory, args.user, args.password, args.auth)
    server.get_mount_points().add_factory(args.path, factory)

    def client_connected(_server, client):
        conn = client.get_connection()
        peer = conn.get_ip() if conn is not None else "?"
        print(f"client connected from {peer}", file=sys.stderr, flush=True)

    server.connect("client-connected", client_connected)

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    if server.attach(None) == 0:
        sys.exit(f"gst-rtsp-server: cannot listen on {args.host}:{args.port}")
    port = server.get_bound_port()
    print(f"gst-rtsp-server listening on rtsp://{args.host}:{port}{args.path}", flush=True)
    loop.run()
    print("gst-rtsp-server stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
