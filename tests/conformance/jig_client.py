#!/usr/bin/env python3
"""Conformance client for the Benchline jig wire protocol, written from firmware/protocol/README.md.

Python 3 standard library only. It starts `benchctl sim-jig` processes, talks to them over their
PTYs the way the README says a host must, and prints one line per check ("ok - ..." or
"not ok - ..."), then "N passed, M failed". Exit status 0 only if every check passed.

    python3 tests/conformance/jig_client.py [--benchctl target/debug/benchctl] [--verbose]

Layout: (1) wire encoding (varints, COBS, CRC, postcard), (2) the message schema of protocol 5,
(3) a small client class over a raw PTY, (4) the sim-jig processes, (5) the checks.
"""

import argparse
import os
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
import zlib

# Published in firmware/protocol/README.md (constants table, section 8).
PROTOCOL_VERSION = 5
SCHEMA_HASH = 0x92022259CC4EE194
MAX_FRAME_PAYLOAD = 256
MAX_COBS = 258  # 256 + ceil(256 / 254); the delimiter makes MAX_ENCODED_FRAME = 259
MAX_TEXT = 24
MAX_TOUCH_COLS = 48
MAX_INSTRUMENTS = 8
KEPT_REPLIES = 32
CUTOFF_V = 3.0  # DCIR_CUTOFF_MV, section 9.12
HELD_V = 0.1    # DCIR_HELD_MV
CONTENTION_MS = 80
PROGRESS_MIN_MS = 150
PROGRESS_STEP_PCT = 10
DCIR_SAMPLES_PER_STEP = 4
DCIR_SAMPLE_SETTLE_MS = 36

RUN_LIMIT_S = 60  # the whole run, all jigs included

# --------------------------------------------------------------------------------------------
# 1. Wire encoding (README sections 2, 3, 4)
# --------------------------------------------------------------------------------------------


class DecodeError(Exception):
    pass


def varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def cobs_encode(data):
    out, block = bytearray(), bytearray()
    for b in data:
        if b == 0:
            out += bytes([len(block) + 1]) + block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out += b"\xff" + block
                block.clear()
    return bytes(out + bytes([len(block) + 1]) + block)


def cobs_decode(data):
    out, i = bytearray(), 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            raise DecodeError("bad COBS")
        out += data[i + 1:i + code]
        i += code
        if code < 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def encode_frame(body):
    """Frame the postcard bytes of one Packet: COBS(body ++ crc32_le(body)) ++ 00."""
    payload = body + zlib.crc32(body).to_bytes(4, "little")
    assert len(payload) <= MAX_FRAME_PAYLOAD
    return cobs_encode(payload) + b"\x00"


def decode_frame(frame):
    """The postcard body of one frame (without its 00), or None if it is rejected (steps 3-5)."""
    try:
        payload = cobs_decode(frame)
    except DecodeError:
        return None
    if not 5 <= len(payload) <= MAX_FRAME_PAYLOAD:
        return None
    body, crc = payload[:-4], int.from_bytes(payload[-4:], "little")
    return body if zlib.crc32(body) == crc else None


class Writer:
    def __init__(self):
        self.buf = bytearray()

    def put(self, ty, value):
        if ty == "u8":
            assert 0 <= value <= 0xFF
            self.buf.append(value)
        elif ty in VARINT_MAX:
            assert 0 <= value <= VARINT_MAX[ty][1]
            self.buf += varint(value)
        elif ty in ENUMS:  # requests only carry unit-variant enums (Channel)
            self.buf += varint(enum_index(ty, value))
        else:
            raise ValueError("cannot encode %r" % (ty,))
        return self


# type name -> (most varint bytes, largest value)
VARINT_MAX = {"u16": (3, 0xFFFF), "u32": (5, 0xFFFFFFFF), "u64": (10, 0xFFFFFFFFFFFFFFFF),
              "usize": (5, 0xFFFFFFFF)}


class Reader:
    """postcard decoding over one body; every read checks bounds and types."""

    def __init__(self, data, pos=0):
        self.data, self.pos = data, pos

    def byte(self):
        if self.pos >= len(self.data):
            raise DecodeError("body ends early")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self, ty):
        most, top = VARINT_MAX[ty]
        n = shift = 0
        for _ in range(most):
            b = self.byte()
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                if n > top:
                    raise DecodeError("%s out of range" % ty)
                return n
        raise DecodeError("%s varint too long" % ty)

    def get(self, ty):
        if ty == "u8":
            return self.byte()
        if ty in VARINT_MAX:
            return self.varint(ty)
        if ty == "f32":
            if self.pos + 4 > len(self.data):
                raise DecodeError("body ends early")
            v = struct.unpack_from("<f", self.data, self.pos)[0]
            self.pos += 4
            return v
        if ty == "bool":
            b = self.byte()
            if b > 1:
                raise DecodeError("bad bool")
            return b == 1
        if isinstance(ty, tuple) and ty[0] == "str":  # ("str", capacity in bytes)
            n = self.varint("usize")
            if n > ty[1] or self.pos + n > len(self.data):
                raise DecodeError("string too long")
            raw = self.data[self.pos:self.pos + n]
            self.pos += n
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError("string is not UTF-8")
        if isinstance(ty, tuple) and ty[0] == "option":  # ("option", type): tag 00 / 01 + value
            tag = self.byte()
            if tag > 1:
                raise DecodeError("bad Option tag %d" % tag)
            return self.get(ty[1]) if tag == 1 else None
        if isinstance(ty, tuple) and ty[0] == "vec":  # ("vec", element type, capacity)
            n = self.varint("usize")
            if n > ty[2]:
                raise DecodeError("vec too long")
            return [self.get(ty[1]) for _ in range(n)]
        if ty in STRUCTS:
            return {name: self.get(fty) for name, fty in STRUCTS[ty]}
        if ty in ENUMS:
            idx = self.varint("u32")
            variants = ENUMS[ty]
            if idx >= len(variants):
                raise DecodeError("unknown %s variant %d" % (ty, idx))
            name, content = variants[idx]
            if content is None:
                # small enums (unit variants only) decode to their name
                return name if all(c is None for _, c in variants) else (name, None)
            if isinstance(content, list):  # struct variant
                return (name, {f: self.get(fty) for f, fty in content})
            return (name, self.get(content))  # newtype variant
        raise ValueError("unknown type %r" % (ty,))

    def end(self):
        if self.pos != len(self.data):
            raise DecodeError("%d bytes left over" % (len(self.data) - self.pos))


# --------------------------------------------------------------------------------------------
# 2. The message schema of protocol 5 (README section 6)
# --------------------------------------------------------------------------------------------

TEXT = ("str", MAX_TEXT)

ENUMS = {
    "Channel": [("Battery", None), ("Port", None), ("Screen", None)],
    "Instrument": [(n, None) for n in ("SlotMux", "Gauge", "PowerMonitor", "Load", "CcFrontEnd",
                                       "Continuity", "TouchIc", "DiagEeprom")],
    "JigKind": [("Combo", None), ("Battery", None), ("Port", None), ("Screen", None)],
    "RpLevel": [("Default", None), ("Current1A5", None), ("Current3A0", None)],
    "PortPin": [(n, None) for n in ("Vbus", "Gnd", "DPlus", "DMinus", "Cc1", "Cc2", "Sbu1",
                                    "Sbu2")],
    "PhoneState": [("Empty", None), ("Seated", None), ("Released", None)],
    "LogLevel": [("Error", None), ("Warn", None), ("Info", None)],
    "JigError": [("Busy", "Channel"), ("BadRequest", None), ("Unsupported", None),
                 ("NoPhone", None), ("HardwareFault", "Instrument"), ("Aborted", None),
                 ("NoScan", None), ("UnknownSeq", None)],
    "Reply": [("Hello", "Hello"), ("Pong", [("nonce", "u32")]), ("Slot", "SlotStatus"),
              ("Identity", "Identity"), ("Gauge", "Gauge"), ("Dcir", "Dcir"), ("Cc", "Cc"),
              ("Continuity", "Continuity"), ("Charge", "Charge"), ("TouchScan", "TouchScan"),
              ("TouchRow", "TouchRow"), ("Backlight", "Backlight"), ("Done", None),
              ("Error", "JigError"), ("Pending", [("remaining_ms", "u32")])],
    "Event": [("Booted", [("boot_id", "u32")]), ("PhoneInserted", [("slot", "u8")]),
              ("PhoneRemoved", [("slot", "u8")]),
              ("Progress", [("slot", "u8"), ("channel", "Channel"), ("percent", "u8"),
                            ("sample", ("option", "Sample"))]),
              ("Log", [("level", "LogLevel"), ("text", ("str", 48))])],
    "JigMsg": [("Reply", "Reply"), ("Event", "Event")],
}

STRUCTS = {
    "Hello": [("protocol_version", "u16"), ("schema_hash", "u64"), ("firmware_version", TEXT),
              ("jig_kind", "JigKind"), ("jig_serial", TEXT), ("slots", "u8"),
              ("instruments", ("vec", "Instrument", MAX_INSTRUMENTS)), ("boot_id", "u32"),
              ("simulated", "bool")],
    "SlotStatus": [("phone", "PhoneState"), ("busy", ("vec", "Channel", 3))],
    "Identity": [("model", TEXT), ("imei", TEXT), ("serial", TEXT)],
    "Gauge": [("voltage_v", "f32"), ("current_a", "f32"), ("temperature_k", "f32"),
              ("state_of_charge_pct", "u8"), ("remaining_mah", "u16"), ("full_charge_mah", "u16"),
              ("design_mah", "u16"), ("cycle_count", "u16"), ("serial", "u16"),
              ("manufacturer", TEXT), ("device", TEXT)],
    "Dcir": [("v1_v", "f32"), ("i1_a", "f32"), ("v2_v", "f32"), ("i2_a", "f32"),
             ("resistance_ohm", "f32"), ("collapsed", "bool"), ("v_min_v", "f32")],
    "Cc": [("rp", "RpLevel"), ("cc1_v", "f32"), ("cc2_v", "f32")],
    "Continuity": [("pins", ("vec", "PinReading", 8))],
    "PinReading": [("pin", "PortPin"), ("resistance_ohm", "f32"), ("leakage_a", "f32")],
    "Charge": [("vbus_v", "f32"), ("current_a", "f32")],
    "TouchScan": [("rows", "u8"), ("cols", "u8")],
    "TouchRow": [("row", "u8"), ("raw", ("vec", "u16", MAX_TOUCH_COLS))],
    "Backlight": [("voltage_v", "f32"), ("current_a", "f32")],
    "Sample": [("t_ms", "u32"), ("voltage_v", "f32"), ("current_a", "f32")],
}

# Request variants in index order: (name, [(field, type)], nominal_ms(fields) of section 9.7).
REQUESTS = [
    ("Hello", [], lambda f: 10),
    ("Ping", [("nonce", "u32")], lambda f: 10),
    ("SlotStatus", [("slot", "u8")], lambda f: 10),
    ("Identify", [("slot", "u8")], lambda f: 20),
    ("BatteryGauge", [("slot", "u8")], lambda f: 30),
    ("BatteryDcir", [("slot", "u8"), ("low_ma", "u16"), ("low_ms", "u32"), ("high_ma", "u16"),
                     ("high_ms", "u32")], lambda f: f["low_ms"] + f["high_ms"] + 50),
    ("PortCc", [("slot", "u8")], lambda f: 30),
    ("PortContinuity", [("slot", "u8")], lambda f: 100),
    ("PortCharge", [("slot", "u8"), ("settle_ms", "u32")], lambda f: f["settle_ms"] + 50),
    ("ScreenTouch", [("slot", "u8")], lambda f: 600),
    ("TouchRow", [("slot", "u8"), ("row", "u8")], lambda f: 30),
    ("ScreenBacklight", [("slot", "u8"), ("settle_ms", "u32")], lambda f: f["settle_ms"] + 50),
    ("Abort", [("slot", "u8"), ("channel", "Channel")], lambda f: 10),
    ("Release", [("slot", "u8")], lambda f: 10),
    ("Resend", [("seq", "u16")], lambda f: 10),
]
REQUEST_INDEX = {name: i for i, (name, _, _) in enumerate(REQUESTS)}


def enum_index(enum, name):
    return [n for n, _ in ENUMS[enum]].index(name)


def encode_request(seq, name, *args):
    """postcard bytes of Packet { seq, msg: Request::name { args... } }."""
    _, fields, _ = REQUESTS[REQUEST_INDEX[name]]
    assert len(args) == len(fields), (name, args)
    w = Writer().put("u16", seq).put("u32", REQUEST_INDEX[name])
    for (_, ty), value in zip(fields, args):
        w.put(ty, value)
    return bytes(w.buf)


def nominal_ms(name, *args):
    _, fields, nominal = REQUESTS[REQUEST_INDEX[name]]
    return nominal({f: v for (f, _), v in zip(fields, args)})


def decode_jigmsg(body):
    """(seq, kind, message, raw message bytes) of a Packet<JigMsg>; kind is "Reply" or "Event".

    Raises DecodeError if the body is not exactly one Packet<JigMsg>."""
    r = Reader(body)
    seq = r.get("u16")
    start = r.pos
    kind, msg = r.get("JigMsg")
    r.end()
    return seq, kind, msg, bytes(body[start:])


# --------------------------------------------------------------------------------------------
# 3. The client: one jig on a raw PTY (README sections 1, 2, 5, 8)
# --------------------------------------------------------------------------------------------

_deadline = [None]  # the whole run's deadline (time.monotonic())


def remaining(timeout):
    """timeout, cut to what is left of the whole run."""
    return max(0.0, min(timeout, _deadline[0] - time.monotonic()))


def open_raw(path):
    """Open a serial port (or a sim-jig's PTY) and make it raw, 115200 8N1 (section 1)."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    iflag, oflag, cflag, lflag, _, _, cc = termios.tcgetattr(fd)
    # cfmakeraw()
    iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
               | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF | termios.IXANY)
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | termios.CRTSCTS)
    cflag |= termios.CS8 | termios.CLOCAL | termios.CREAD
    cc[termios.VMIN], cc[termios.VTIME] = 1, 0
    speed = termios.B115200
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, speed, speed, cc])
    return fd


class Jig:
    """A host's end of one jig: sends requests, and sorts what arrives into replies and events."""

    def __init__(self, path, verbose=False):
        self.fd = open_raw(path)
        self.verbose = verbose
        termios.tcflush(self.fd, termios.TCIFLUSH)  # drop whatever was sent before we came
        os.write(self.fd, b"\x00")  # flush a half-received frame in the jig (section 2)
        self.rx = bytearray()
        self.overlong = False
        self.next_seq = 0
        self.replies = {}  # seq -> (reply, raw bytes of the JigMsg)
        self.events = []  # (event number, event) in arrival order
        self.arrivals = []  # ("reply", seq, reply) or ("event", number, event), in arrival order
        self.rejected = 0  # frames we could not decode

    def close(self):
        os.close(self.fd)

    # -- sending --------------------------------------------------------------------------
    def take_seq(self):
        seq = self.next_seq
        self.next_seq = (self.next_seq + 1) & 0xFFFF
        return seq

    def send(self, name, *args):
        """Send one request; its seq."""
        seq = self.take_seq()
        self.write(encode_frame(encode_request(seq, name, *args)))
        return seq

    def send_many(self, requests):
        """Send several requests in one write (so that the jig sees them in one poll)."""
        seqs, data = [], b""
        for name, *args in requests:
            seq = self.take_seq()
            seqs.append(seq)
            data += encode_frame(encode_request(seq, name, *args))
        self.write(data)
        return seqs

    def write(self, data):
        if self.verbose:
            print("# >> %s" % data.hex(" "), file=sys.stderr)
        view = memoryview(data)
        while view:
            select.select([], [self.fd], [], remaining(2.0))
            n = os.write(self.fd, view)
            view = view[n:]

    # -- receiving ------------------------------------------------------------------------
    def pump(self, timeout):
        """Read for at most timeout seconds, or until at least one frame was handled."""
        ready, _, _ = select.select([self.fd], [], [], remaining(timeout))
        if not ready:
            return False
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            return False
        for b in data:
            if b != 0:
                if len(self.rx) < MAX_COBS:
                    self.rx.append(b)
                else:
                    self.overlong = True  # step 1: discard up to the next 00
                continue
            frame, overlong = bytes(self.rx), self.overlong
            self.rx.clear()
            self.overlong = False
            if overlong:
                self.rejected += 1
            elif frame:  # step 2: drop empty frames
                self.handle(frame)
        return True

    def handle(self, frame):
        body = decode_frame(frame)
        try:
            if body is None:
                raise DecodeError("bad frame")
            seq, kind, msg, raw = decode_jigmsg(body)
        except DecodeError as e:
            self.rejected += 1
            if self.verbose:
                print("# << rejected (%s): %s" % (e, frame.hex(" ")), file=sys.stderr)
            return
        if self.verbose:
            print("# << %s %d %r" % (kind, seq, msg), file=sys.stderr)
        if kind == "Reply":
            self.replies[seq] = (msg, raw)
            self.arrivals.append(("reply", seq, msg))
        else:
            self.events.append((seq, msg))
            self.arrivals.append(("event", seq, msg))

    def wait_reply(self, seq, timeout):
        """The reply to seq, or None when timeout seconds pass first."""
        end = time.monotonic() + timeout
        while seq not in self.replies:
            left = end - time.monotonic()
            if left <= 0 or remaining(left) <= 0:
                return None
            self.pump(left)
        return self.replies[seq][0]

    def wait_event(self, pred, timeout, since=0):
        """The first event from index `since` of self.events that satisfies pred, or None."""
        end = time.monotonic() + timeout
        i = since
        while True:
            while i < len(self.events):
                if pred(self.events[i][1]):
                    return self.events[i]
                i += 1
            left = end - time.monotonic()
            if left <= 0 or remaining(left) <= 0:
                return None
            self.pump(left)

    def settle(self, seconds):
        """Keep reading for the given time."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and remaining(1) > 0:
            self.pump(end - time.monotonic())


class Client:
    """Requests with timeouts derived from section 9.7, scaled to the jig's time scale."""

    def __init__(self, jig, time_scale, margin_s=3.0):
        self.jig, self.scale, self.margin = jig, time_scale, margin_s
        self.hello = None

    def timeout(self, name, *args, in_flight=0):
        jig_ms = nominal_ms(name, *args) + CONTENTION_MS * in_flight
        return jig_ms / 1000.0 * self.scale + self.margin

    def call(self, name, *args):
        """Send one request and wait for its reply (None on timeout)."""
        seq = self.jig.send(name, *args)
        return self.jig.wait_reply(seq, self.timeout(name, *args))

    def call_seq(self, name, *args):
        seq = self.jig.send(name, *args)
        return seq, self.jig.wait_reply(seq, self.timeout(name, *args))

    def handshake(self):
        """Section 8: Hello, then SlotStatus of every slot. (hello, [slot status])."""
        hello = self.call("Hello")
        if not (isinstance(hello, tuple) and hello[0] == "Hello"):
            return hello, []
        self.hello = hello[1]
        statuses = [self.call("SlotStatus", s) for s in range(self.hello["slots"])]
        return hello, statuses


# --------------------------------------------------------------------------------------------
# 4. sim-jig processes
# --------------------------------------------------------------------------------------------


class SimJig:
    def __init__(self, benchctl, args):
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([benchctl, "sim-jig"] + args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.log,
                                     env=dict(os.environ, RUST_LOG="warn"))
        self.path = self.read_path(10.0)

    def read_path(self, timeout):
        fd, line, end = self.proc.stdout.fileno(), b"", time.monotonic() + timeout
        while not line.endswith(b"\n"):
            ready, _, _ = select.select([fd], [], [], remaining(end - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(fd, 256)
            if not chunk:
                return None
            line += chunk
        return line.decode().strip()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def stderr_tail(self):
        self.log.seek(0)
        return self.log.read()[-2000:].decode(errors="replace")


# --------------------------------------------------------------------------------------------
# 5. Checks
# --------------------------------------------------------------------------------------------


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, cond, what, detail=None):
        if cond:
            self.passed += 1
            print("ok - %s" % what)
        else:
            self.failed += 1
            print("not ok - %s%s" % (what, "" if detail is None else "  # got %r" % (detail,)))
        sys.stdout.flush()
        return bool(cond)


check = Checks()


def is_reply(reply, variant):
    return isinstance(reply, tuple) and reply[0] == variant


def is_error(reply, err):
    """err is a JigError name ("NoPhone") or a full value (("Busy", "Battery"))."""
    if not is_reply(reply, "Error"):
        return False
    return reply[1] == err if isinstance(err, tuple) else reply[1][0] == err


def finite(x):
    return x == x and x not in (float("inf"), float("-inf"))


def luhn_ok(digits):
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def event_numbers_consecutive(events):
    """Within one boot event numbers go up by one (wrapping at u16); Booted restarts them."""
    prev = None
    for n, e in events:
        if e[0] == "Booted":
            if n != 0:
                return False
        elif prev is not None and n != (prev + 1) & 0xFFFF:
            return False
        prev = n
    return True


def check_stream_clean(c, label):
    """Every frame the jig sent decoded, and its events came numbered without a gap."""
    check(c.jig.rejected == 0, "%s: every frame from the jig decoded" % label, c.jig.rejected)
    check(event_numbers_consecutive(c.jig.events), "%s: event numbers go up by one, no gap" % label,
          [n for n, _ in c.jig.events])


def check_worked_examples():
    """The framing layer reproduces the README's example frames (sections 3, 4, 8, 10)."""
    check(zlib.crc32(b"123456789") == 0xCBF43926, "crc: check value of \"123456789\" is CBF43926")
    check(varint(300) == bytes.fromhex("AC02") and varint(0xDEADBEEF) == bytes.fromhex("EFFDB6F50D"),
          "postcard: varint examples of section 4")
    check(encode_frame(encode_request(0, "Hello")).hex(" ").upper() == "01 01 05 FF 12 D9 41 00",
          "framing: Hello frame of section 8")
    check(encode_frame(encode_request(7, "BatteryGauge", 0)).hex(" ").upper()
          == "03 07 04 05 93 0A 62 9E 00", "framing: example (a) BatteryGauge")
    check(encode_frame(encode_request(8, "Resend", 7)).hex(" ").upper() == "08 08 0E 07 87 30 B5 F1 00",
          "framing: example (d) Resend")
    examples = [
        ("02 07 0B 01 EF FD B6 F5 0D 46 70 9A AC", (7, "Reply", ("Pong", {"nonce": 0xDEADBEEF}))),
        ("01 02 01 0A F8 AC D1 91 01 36 BD BA 2F", (0, "Event", ("Booted", {"boot_id": 0x12345678}))),
        ("02 08 08 0E F2 3E 42 0F 27 1B", (8, "Reply", ("Pending", {"remaining_ms": 8050}))),
        ("02 09 03 02 02 05 80 23 80 FA", (9, "Reply", ("Slot", {"phone": "Released", "busy": []}))),
        ("04 0C 01 03 01 05 5A 01 8A 50 01 03 70 40 01 07 80 40 44 5B DB 69",
         (12, "Event", ("Progress", {"slot": 0, "channel": "Battery", "percent": 90,
                                     "sample": {"t_ms": 10250, "voltage_v": 3.75, "current_a": 4.0}}))),
        ("07 0D 01 03 01 01 28 05 33 B4 64 94",
         (13, "Event", ("Progress", {"slot": 1, "channel": "Port", "percent": 40, "sample": None}))),
    ]
    ok = True
    for frame, want in examples:
        seq, kind, msg, _ = decode_jigmsg(decode_frame(bytes.fromhex(frame)))
        ok &= (seq, kind, msg) == want
    hello_frame = ("01 01 01 12 05 94 C3 BB E2 9C CB 88 81 92 01 05 30 2E 31 2E 30 0B 07 42 4C 2D 30 30 "
                   "30 31 04 02 07 01 F8 AC D1 91 01 05 4D 6F D0 D7")
    seq, kind, msg, _ = decode_jigmsg(decode_frame(bytes.fromhex(hello_frame)))
    ok &= (seq, kind, msg) == (0, "Reply", ("Hello", {
        "protocol_version": 5, "schema_hash": SCHEMA_HASH, "firmware_version": "0.1.0",
        "jig_kind": "Combo", "jig_serial": "BL-0001", "slots": 4,
        "instruments": ["SlotMux", "Gauge"], "boot_id": 0x12345678, "simulated": False}))
    check(ok, "framing: decodes the jig frames of examples (b), (c), (d) and (e)")
    bad_tag = varint(5) + bytes([1, 3, 0, 0, 10, 2])  # Progress with an Option tag of 02
    try:
        decode_jigmsg(bad_tag)
        rejected = False
    except DecodeError:
        rejected = True
    check(rejected, "postcard: an Option tag other than 00 or 01 is rejected")
    bad = bytearray(bytes.fromhex("02 07 0B 01 EF FD B6 F5 0D 46 70 9A AC"))
    bad[5] ^= 0x01
    run = bytes(range(1, 255))  # a payload whose last run of non-zero bytes is 254 bytes long
    check(cobs_encode(run) in (b"\xff" + run, b"\xff" + run + b"\x01") and cobs_decode(b"\xff" + run) == run
          and cobs_decode(b"\xff" + run + b"\x01") == run,
          "framing: a final 254-byte run decodes with and without a trailing 01 code")
    check(decode_frame(bytes(bad)) is None and decode_frame(b"\x05\x01\x02") is None,
          "framing: a flipped bit or a COBS code past the end is rejected")


def check_handshake(c, slots, label):
    hello, statuses = c.handshake()
    if not check(is_reply(hello, "Hello"), "%s: Hello answered with Reply::Hello" % label, hello):
        return None
    h = hello[1]
    check(h["protocol_version"] == PROTOCOL_VERSION, "%s: protocol_version is %d" % (label, PROTOCOL_VERSION),
          h["protocol_version"])
    check(h["schema_hash"] == SCHEMA_HASH, "%s: schema_hash is 0x%016X" % (label, SCHEMA_HASH),
          hex(h["schema_hash"]))
    check(re.fullmatch(r"\d+\.\d+\.\d+([-+].*)?", h["firmware_version"]) and h["slots"] == slots
          and h["jig_kind"] in [n for n, _ in ENUMS["JigKind"]] and len(set(h["instruments"])) == len(h["instruments"]),
          "%s: Hello fields: semver firmware, %d slots, jig kind, distinct instruments" % (label, slots), h)
    check(h["simulated"] is True, "%s: a sim-jig says it is simulated (Hello.simulated = 01, section 8)" % label,
          h["simulated"])
    check(len(statuses) == slots and all(is_reply(s, "Slot") for s in statuses),
          "%s: SlotStatus answered for every slot after the handshake" % label, statuses)
    return h


def wait_seated(c, slot, timeout=5.0):
    """SlotStatus of slot once it is Seated (waiting for PhoneInserted if it is not)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = c.call("SlotStatus", slot)
        if is_reply(st, "Slot") and st[1]["phone"] == "Seated":
            return st
        c.jig.wait_event(lambda e: e == ("PhoneInserted", {"slot": slot}), 0.5)
    return c.call("SlotStatus", slot)


def check_procedures(c, slot, label):
    """Every procedure of the request table with valid parameters, replies decoded and sane."""
    r = c.call("Ping", 0xDEADBEEF)
    check(r == ("Pong", {"nonce": 0xDEADBEEF}), "%s: Ping echoes its nonce" % label, r)

    r = c.call("Identify", slot)
    ok = is_reply(r, "Identity")
    if ok:
        ident = r[1]
        ok = (ident["model"] and ident["serial"] and re.fullmatch(r"\d{15}", ident["imei"])
              and luhn_ok(ident["imei"]))
    check(ok, "%s: Identify gives a model, a serial and a 15-digit IMEI with a Luhn check digit" % label, r)

    r = c.call("BatteryGauge", slot)
    ok = is_reply(r, "Gauge")
    if ok:
        g = r[1]
        ok = (2.5 <= g["voltage_v"] <= 4.6 and abs(g["current_a"]) < 10 and 250 <= g["temperature_k"] <= 340
              and g["state_of_charge_pct"] <= 100 and 500 <= g["design_mah"] <= 10000
              and 0 < g["full_charge_mah"] <= g["design_mah"] * 1.2
              and g["remaining_mah"] <= g["full_charge_mah"] * 1.05 and g["cycle_count"] < 10000
              and g["manufacturer"] and g["device"])
    check(ok, "%s: BatteryGauge: voltage, current, temperature (K), SoC and capacities plausible" % label, r)

    r = c.call("BatteryDcir", slot, 500, 2000, 2500, 1000)
    ok = is_reply(r, "Dcir")
    if ok and r[1]["collapsed"]:
        # Section 9.12: the cell could not hold a step; no resistance, a voltage at or below cut-off.
        d = r[1]
        ok = (d["resistance_ohm"] == float("inf") and d["v_min_v"] < CUTOFF_V + HELD_V
              and d["v_min_v"] <= min(d["v1_v"], d["v2_v"]))
    elif ok:
        d = r[1]
        ok = (abs(d["i1_a"] - 0.5) < 0.05 and abs(d["i2_a"] - 2.5) < 0.1
              and CUTOFF_V <= d["v2_v"] < d["v1_v"] < 4.6
              and 0.005 < d["resistance_ohm"] < 2.0
              and abs(d["resistance_ohm"] - (d["v1_v"] - d["v2_v"]) / (d["i2_a"] - d["i1_a"]))
              < 0.01 * d["resistance_ohm"]
              and 0 <= min(d["v1_v"], d["v2_v"]) - d["v_min_v"] < 0.01)
    check(ok, "%s: BatteryDcir 0.5 A / 2.5 A: currents drawn, V1 > V2, R = (V1-V2)/(I2-I1), "
              "or collapsed with R = +inf (section 9.12)" % label, r)

    r = c.call("PortCc", slot)
    ok = is_reply(r, "Cc") and all(0.0 <= r[1][k] <= 5.5 for k in ("cc1_v", "cc2_v"))
    check(ok, "%s: PortCc: Rp level and CC voltages in 0-5.5 V" % label, r)

    r = c.call("PortContinuity", slot)
    ok = is_reply(r, "Continuity")
    if ok:
        pins = r[1]["pins"]
        ok = ([p["pin"] for p in pins] == [n for n, _ in ENUMS["PortPin"]]
              and all(p["resistance_ohm"] >= 0 and finite(p["leakage_a"]) for p in pins))
    check(ok, "%s: PortContinuity: 8 pins in the order Vbus..Sbu2, resistances >= 0 (inf = open)" % label, r)

    r = c.call("PortCharge", slot, 1000)
    ok = is_reply(r, "Charge") and 4.0 <= r[1]["vbus_v"] <= 5.5 and 0.0 <= r[1]["current_a"] <= 3.5
    check(ok, "%s: PortCharge: VBUS 4-5.5 V, current 0-3.5 A" % label, r)

    r = c.call("TouchRow", slot, 0)
    check(is_error(r, "NoScan"), "%s: TouchRow before any ScreenTouch is Error(NoScan)" % label, r)

    r = c.call("ScreenTouch", slot)
    ok = is_reply(r, "TouchScan") and 1 <= r[1]["rows"] and 1 <= r[1]["cols"] <= MAX_TOUCH_COLS
    check(ok, "%s: ScreenTouch: rows >= 1 and 1 <= cols <= 48" % label, r)
    if ok:
        rows, cols = r[1]["rows"], r[1]["cols"]
        got = [c.call("TouchRow", slot, row) for row in range(rows)]
        ok = all(is_reply(g, "TouchRow") and g[1]["row"] == i and len(g[1]["raw"]) == cols
                 for i, g in enumerate(got))
        check(ok, "%s: TouchRow reads back all %d rows, %d raw counts each" % (label, rows, cols),
              [g for g in got if not (is_reply(g, "TouchRow") and len(g[1]["raw"]) == cols)][:2])
        r = c.call("TouchRow", slot, rows)
        check(is_error(r, "BadRequest"), "%s: TouchRow of row %d (= rows) is Error(BadRequest)" % (label, rows), r)

    r = c.call("ScreenBacklight", slot, 200)
    ok = is_reply(r, "Backlight") and 3.0 <= r[1]["voltage_v"] <= 40.0 and 0.001 <= r[1]["current_a"] <= 0.5
    check(ok, "%s: ScreenBacklight: LED voltage 3-40 V, current 1-500 mA" % label, r)

    # boundaries of section 9.3 are valid
    r1 = c.call("PortCharge", slot, 0)
    r2 = c.call("ScreenBacklight", slot, 10000)
    r3 = c.call("BatteryDcir", slot, 1, 1, 6500, 1)
    check(is_reply(r1, "Charge") and is_reply(r2, "Backlight") and is_reply(r3, "Dcir"),
          "%s: parameters at the ends of their ranges are accepted" % label, (r1, r2, r3))


def check_errors(c, label):
    jig = c.jig
    # Busy: a long DCIR, then in the same poll a gauge of the same slot, a port procedure of the
    # same slot, and the gauge of the other slot.
    seqs = jig.send_many([("BatteryDcir", 1, 500, 60000, 3000, 10000), ("BatteryGauge", 1),
                          ("SlotStatus", 1), ("PortCc", 1), ("BatteryGauge", 0)])
    dcir_seq = seqs[0]
    got = [jig.wait_reply(s, c.timeout("BatteryDcir", 1, 500, 60000, 3000, 10000, in_flight=4))
           for s in seqs[1:]]
    busy_seq = seqs[1]
    check(is_error(got[0], ("Busy", "Battery")),
          "%s: BatteryGauge during a BatteryDcir of the slot is Busy(Battery)" % label, got[0])
    check(is_reply(got[1], "Slot") and got[1][1]["busy"] == ["Battery"],
          "%s: SlotStatus.busy lists Battery while the DCIR runs" % label, got[1])
    check(is_reply(got[2], "Cc") and is_reply(got[3], "Gauge"),
          "%s: another channel of the slot, and the same procedure on another slot, run" % label, got[2:])
    r = jig.wait_reply(dcir_seq, c.timeout("BatteryDcir", 1, 500, 60000, 3000, 10000, in_flight=4))
    check(is_reply(r, "Dcir"), "%s: the long BatteryDcir itself completes" % label, r)

    # BadRequest: slots and parameter ranges (section 9.3)
    bad = [("SlotStatus", 2), ("Identify", 9), ("BatteryGauge", 255), ("BatteryDcir", 0, 0, 1000, 3000, 1000),
           ("BatteryDcir", 0, 500, 1000, 6501, 1000), ("BatteryDcir", 0, 500, 60001, 3000, 1000),
           ("BatteryDcir", 0, 500, 1000, 3000, 10001), ("BatteryDcir", 0, 0, 0, 0, 0),
           ("BatteryDcir", 0, 3000, 1000, 3000, 1000), ("BatteryDcir", 0, 3000, 1000, 500, 1000),
           ("PortCharge", 0, 30001), ("ScreenBacklight", 0, 10001), ("TouchRow", 2, 0),
           ("Abort", 2, "Battery"), ("Release", 2)]
    got = [c.call(*req) for req in bad]
    wrong = [(req, g) for req, g in zip(bad, got) if not is_error(g, "BadRequest")]
    check(not wrong, "%s: %d requests with a slot or parameter out of range are Error(BadRequest)"
          % (label, len(bad)), wrong)

    # Abort of an idle channel: Done and nothing else
    before = len(jig.arrivals)
    seq, r = c.call_seq("Abort", 0, "Screen")
    jig.settle(0.2)
    others = [a for a in jig.arrivals[before:] if a[0] == "reply" and a[1] != seq]
    check(r == ("Done", None) and not others,
          "%s: Abort of an idle channel answers Done, nothing else" % label, (r, others))

    # Intact frames that are no request: BadRequest under their seq (section 2)
    raw_bodies = [
        ("an unknown variant index (15)", lambda s: varint(s) + varint(15)),
        ("an unknown variant index (300)", lambda s: varint(s) + varint(300) + b"\x00"),
        ("an Abort of channel 3", lambda s: varint(s) + varint(REQUEST_INDEX["Abort"]) + b"\x00\x03"),
        ("a Ping with a byte left over", lambda s: encode_request(s, "Ping", 1) + b"\x07"),
        ("a SlotStatus cut short", lambda s: varint(s) + varint(REQUEST_INDEX["SlotStatus"])),
    ]
    for what, make in raw_bodies:
        seq = jig.take_seq()
        jig.write(encode_frame(make(seq)))
        r = jig.wait_reply(seq, c.timeout("Ping", 0))
        check(is_error(r, "BadRequest"),
              "%s: an intact frame with %s is answered BadRequest under its seq" % (label, what), r)

    # Garbled frames: no reply, a Log event at level Warn (sections 2, 9.6)
    garbled = []
    seq = jig.take_seq()
    body = encode_request(seq, "Ping", 42)
    wrong_crc = (zlib.crc32(body) ^ 0x00010000).to_bytes(4, "little")  # one bit off
    garbled.append(("a CRC mismatch", seq, cobs_encode(body + wrong_crc) + b"\x00"))
    seq = jig.take_seq()
    garbled.append(("a COBS code past the end", seq, bytes([0x09]) + encode_request(seq, "Ping", 1) + b"\x00"))
    seq = jig.take_seq()
    garbled.append(("more than 258 bytes without a delimiter", seq, varint(seq) + b"\x01\x2a" * 160 + b"\x00"))
    for what, seq, frame in garbled:
        since = len(jig.events)
        jig.write(frame)
        log = jig.wait_event(lambda e: e[0] == "Log" and e[1]["level"] == "Warn", 1.0, since)
        jig.settle(0.3)
        check(seq not in jig.replies and log is not None,
              "%s: a frame with %s gets no reply and a Log Warn event" % (label, what), (jig.replies.get(seq), log))
    r = c.call("Ping", 7)
    check(r == ("Pong", {"nonce": 7}), "%s: the jig answers the next Ping after the garbled frames" % label, r)
    return busy_seq


def check_resend_fast(c, label, busy_seq):
    jig = c.jig
    gseq, g = c.call_seq("BatteryGauge", 0)
    seq, r = c.call_seq("Resend", gseq)
    check(is_reply(g, "Gauge") and r == g and jig.replies[seq][1] == jig.replies[gseq][1],
          "%s: Resend of a completed BatteryGauge returns the same reply bytes" % label, r)
    r = c.call("Resend", busy_seq)
    check(is_error(r, ("Busy", "Battery")), "%s: Resend of a Busy request returns the kept Busy error" % label, r)
    unused = (jig.next_seq + 30000) & 0xFFFF
    r = c.call("Resend", unused)
    check(is_error(r, "UnknownSeq"), "%s: Resend of a seq the jig never received is Error(UnknownSeq)" % label, r)
    rseq, _ = c.call_seq("Resend", gseq)
    r = c.call("Resend", rseq)
    check(is_error(r, "UnknownSeq"), "%s: replies to Resend are not kept (Resend of a Resend is UnknownSeq)" % label, r)
    # KEPT_REPLIES: a reply is kept while fewer than 32 replies followed it (Resend replies not counted)
    first, _ = c.call_seq("Ping", 1000)
    for n in range(KEPT_REPLIES - 1):
        c.call("Ping", n)
    r1 = c.call("Resend", first)
    c.call("Ping", 99)
    r2 = c.call("Resend", first)
    check(r1 == ("Pong", {"nonce": 1000}) and is_error(r2, "UnknownSeq"),
          "%s: a reply is kept for 32 replies, then Resend gives UnknownSeq" % label, (r1, r2))


def state_after_release(jig, slot, since, seq, status):
    """Is status (the reply to SlotStatus seq, sent after a Release) what section 9.1 allows?

    Released; or Empty once PhoneRemoved came before the reply; or Seated once PhoneRemoved and
    then PhoneInserted came before it (the operator already seated the next phone)."""
    if not is_reply(status, "Slot"):
        return False
    before = []
    for kind, n, msg in jig.arrivals[since:]:
        if (kind, n) == ("reply", seq):
            break
        if kind == "event" and msg[0] in ("PhoneRemoved", "PhoneInserted") and msg[1]["slot"] == slot:
            before.append(msg[0])
    phone = status[1]["phone"]
    if phone == "Released":
        return not before
    if phone == "Empty":
        return before[-1:] == ["PhoneRemoved"]
    return before[-2:] == ["PhoneRemoved", "PhoneInserted"]


def check_release_next_phone(c, label, slot):
    jig = c.jig
    ident = c.call("Identify", slot)
    old_imei = ident[1]["imei"] if is_reply(ident, "Identity") else None
    since, events_since = len(jig.arrivals), len(jig.events)
    # In one write, so that the jig handles them in one poll, before the simulated operator
    # (who takes a released phone out at once) can act: the slot is still Released then.
    seqs = jig.send_many([("Release", slot), ("SlotStatus", slot), ("Identify", slot),
                          ("BatteryGauge", slot), ("BatteryDcir", slot, 0, 1000, 3000, 1000),
                          ("Release", slot), ("Abort", slot, "Port"), ("SlotStatus", slot)])
    got = [jig.wait_reply(s, c.timeout("BatteryGauge", in_flight=len(seqs))) for s in seqs]
    check(got[0] == ("Done", None), "%s: Release of a seated, idle phone answers Done" % label, got[0])
    check(state_after_release(jig, slot, since, seqs[1], got[1]) and got[1][1]["phone"] == "Released",
          "%s: SlotStatus right after Release is Released" % label, (got[1], jig.arrivals[since:]))
    check(is_error(got[2], "NoPhone") and is_error(got[3], "NoPhone") and is_error(got[4], "BadRequest"),
          "%s: a released phone answers NoPhone (ranges are checked first: BadRequest)" % label, got[2:5])
    check(got[5] == ("Done", None) and got[6] == ("Done", None),
          "%s: Release and Abort of a released slot answer Done" % label, got[5:7])
    check(state_after_release(jig, slot, since, seqs[7], got[7]),
          "%s: the released phone is never reported Seated again (Released until PhoneRemoved)" % label,
          (got[7], jig.arrivals[since:]))
    removed = jig.wait_event(lambda e: e == ("PhoneRemoved", {"slot": slot}), 10.0, events_since)
    check(removed is not None, "%s: PhoneRemoved when the operator takes the released phone out" % label)
    after = jig.events.index(removed) + 1 if removed else events_since
    inserted = jig.wait_event(lambda e: e == ("PhoneInserted", {"slot": slot}), 10.0, after)
    check(inserted is not None, "%s: PhoneInserted for the next phone, after PhoneRemoved" % label)
    st = c.call("SlotStatus", slot)
    check(is_reply(st, "Slot") and st[1]["phone"] == "Seated" and st[1]["busy"] == [],
          "%s: the slot is Seated with the next phone" % label, st)
    r = c.call("Identify", slot)
    check(is_reply(r, "Identity") and re.fullmatch(r"\d{15}", r[1]["imei"]) and r[1]["imei"] != old_imei,
          "%s: Identify of the next phone gives a different IMEI" % label, (old_imei, r))
    r = c.call("TouchRow", slot, 0)
    check(is_error(r, "NoScan"), "%s: the next phone has no touch scan of its own (NoScan)" % label, r)


def check_timed(c, label, scale):
    """Progress, Pending, Abort and Release of running procedures, on a time-scaled jig."""
    jig = c.jig
    # Progress of a DCIR (nominal 4000 + 1000 + 50 ms), and the samples it carries
    args = ("BatteryDcir", 0, 500, 4000, 2500, 1000)
    start = len(jig.arrivals)
    seq = jig.send(*args)
    r = jig.wait_reply(seq, c.timeout(*args))
    check(is_reply(r, "Dcir"), "%s: a 5 s BatteryDcir completes" % label, r)
    window = jig.arrivals[start:]
    reply_at = next(i for i, a in enumerate(window) if a[:2] == ("reply", seq)) if r else len(window)
    prog = [(i, a[2][1]) for i, a in enumerate(window)
            if a[0] == "event" and a[2][0] == "Progress" and a[2][1]["slot"] == 0 and a[2][1]["channel"] == "Battery"]
    pcts = [p["percent"] for _, p in prog]
    marks = progress_marks(pcts)
    check(1 <= len(marks) <= 9 and all(10 <= p <= 99 for p in marks) and all(0 <= p <= 99 for p in pcts)
          and all(a <= b for a, b in zip(pcts, pcts[1:])),
          "%s: Progress of the DCIR: 1-9 marks at 10-99 %%, one per 10 %% mark; percent never goes down" % label,
          pcts)
    check(all(i < reply_at for i, _ in prog), "%s: every Progress event comes before the reply" % label)
    check_dcir_samples(label, [p["sample"] for _, p in prog], r[1] if is_reply(r, "Dcir") else None,
                       (0.5, 4000), (2.5, 1000), [b > a for a, b in zip([0] + pcts, pcts)])

    # No Progress below PROGRESS_MIN_MS: a PortCharge of nominal 100 ms; Progress for a backlight of 150 ms
    start = len(jig.events)
    r = c.call("PortCharge", 0, 50)
    jig.settle(0.05)
    check(is_reply(r, "Charge") and not [e for _, e in jig.events[start:] if e[0] == "Progress"],
          "%s: no Progress for a PortCharge of nominal 100 ms (< 150 ms)" % label, jig.events[start:])

    # Only a DCIR's Progress carries samples
    start = len(jig.events)
    r = c.call("ScreenBacklight", 0, 1000)
    prog = [e[1] for _, e in jig.events[start:] if e[0] == "Progress"]
    check(is_reply(r, "Backlight") and prog and all(p["sample"] is None for p in prog)
          and len(progress_marks([p["percent"] for p in prog])) == len(prog),
          "%s: the Progress of a ScreenBacklight: marks only, with no sample" % label, prog)

    # Pending while it runs, then the same reply again (section 9.10)
    args = ("BatteryDcir", 1, 500, 20000, 2500, 5000)  # nominal 25050 ms
    dseq = jig.send(*args)
    sent_at = time.monotonic()
    time.sleep(0.1)
    p1 = c.call("Resend", dseq)
    time.sleep(0.3)
    p2 = c.call("Resend", dseq)
    nominal = nominal_ms(*args)
    ok = is_reply(p1, "Pending") and is_reply(p2, "Pending")
    if ok:
        a, b = p1[1]["remaining_ms"], p2[1]["remaining_ms"]
        elapsed = (time.monotonic() - sent_at) / scale * 1000
        ok = 0 < b < a <= nominal and b >= nominal - elapsed - 1000
    check(ok, "%s: Resend of a running DCIR is Pending, remaining_ms <= nominal and falling" % label, (p1, p2))
    r = jig.wait_reply(dseq, c.timeout(*args))
    seq, again = c.call_seq("Resend", dseq)
    check(is_reply(r, "Dcir") and again == r and jig.replies[seq][1] == jig.replies[dseq][1],
          "%s: after it completes, Resend returns the DCIR's reply, measurement included" % label, again)

    # Abort of a running procedure: its Aborted reply, then Done; the other channels go on
    dcir = ("BatteryDcir", 0, 500, 20000, 2500, 5000)
    dseq = jig.send(*dcir)
    cseq = jig.send("PortCharge", 0, 10000)
    time.sleep(0.1)
    st = c.call("SlotStatus", 0)
    check(is_reply(st, "Slot") and st[1]["busy"] == ["Battery", "Port"],
          "%s: SlotStatus.busy lists running channels in order battery, port" % label, st)
    start = len(jig.arrivals)
    aseq, r = c.call_seq("Abort", 0, "Battery")
    order = [a[1] for a in jig.arrivals[start:] if a[0] == "reply"]
    check(r == ("Done", None) and is_error(jig.replies.get(dseq, (None,))[0], "Aborted")
          and order[:2] == [dseq, aseq],
          "%s: Abort of a running DCIR: the DCIR answers Aborted, then the Abort answers Done" % label, order)
    r = jig.wait_reply(cseq, c.timeout("PortCharge", 0, 10000))
    check(is_reply(r, "Charge"), "%s: the slot's PortCharge goes on and completes after the Abort" % label, r)
    r = c.call("Resend", dseq)
    check(is_error(r, "Aborted"), "%s: Resend of the aborted DCIR returns its Aborted reply" % label, r)

    # Release with procedures running: Aborted replies (battery, then screen), then Done
    dseq = jig.send(*dcir)
    bseq = jig.send("ScreenBacklight", 0, 10000)
    time.sleep(0.1)
    start = len(jig.arrivals)
    rseq, r = c.call_seq("Release", 0)
    replies = [(a[1], a[2]) for a in jig.arrivals[start:] if a[0] == "reply"]
    check(r == ("Done", None) and replies[:3] == [(dseq, ("Error", ("Aborted", None))),
                                                  (bseq, ("Error", ("Aborted", None))), (rseq, ("Done", None))],
          "%s: Release stops the slot's procedures: Aborted (battery, screen), then Done" % label, replies)
    seq, st = c.call_seq("SlotStatus", 0)
    check(state_after_release(jig, 0, start, seq, st) and st[1]["busy"] == [],
          "%s: after Release the slot is Released with nothing running" % label, st)


def progress_marks(pcts):
    """The percents of the mark events: those in a higher ten than the event before (section 9.8)."""
    return [p for prev, p in zip([0] + pcts, pcts) if p // PROGRESS_STEP_PCT > prev // PROGRESS_STEP_PCT]


def check_dcir_samples(label, samples, dcir, low, high, at_mark):
    """The samples of one BatteryDcir's Progress events draw its pulse (section 9.8).

    low and high are (amperes, ms) of the two steps; dcir is the reply's Dcir struct; at_mark
    tells, per event, whether it raised the percent (a mark's reading, taken whenever the mark
    falls, so it may come sooner than the settle time after the load change)."""
    (low_a, low_ms), (high_a, high_ms) = low, high
    check(samples and all(s is not None for s in samples),
          "%s: every Progress of the DCIR carries a sample" % label, samples)
    at_mark = [m for s, m in zip(samples, at_mark) if s is not None]
    samples = [s for s in samples if s is not None]
    most = 1 + 2 * DCIR_SAMPLES_PER_STEP + 1 + 9
    check(8 <= len(samples) <= most and all(a["t_ms"] <= b["t_ms"] for a, b in zip(samples, samples[1:])),
          "%s: 8-%d DCIR samples, t_ms never goes down" % (label, most), [s["t_ms"] for s in samples])
    if not samples or dcir is None:
        return
    rest = samples[0]
    check(rest["t_ms"] == 0 and abs(rest["current_a"]) < 0.01,
          "%s: the first DCIR sample is the rest level: t_ms 0, no current" % label, rest)

    def step(s):
        if abs(s["current_a"] - low_a) < 0.05:
            return "low"
        return "high" if abs(s["current_a"] - high_a) < 0.1 else None

    steps = [step(s) for s in samples[1:]]
    lows = 0
    while lows < len(steps) and steps[lows] == "low":
        lows += 1
    lo, hi = samples[1:1 + lows], samples[1 + lows:]
    hi_points = [s for s, m in zip(samples[1 + lows:], at_mark[1 + lows:]) if not m]
    check(steps[lows:] == ["high"] * len(hi) and len(lo) >= DCIR_SAMPLES_PER_STEP and len(hi) >= 2,
          "%s: DCIR samples: rest, then >= %d at the low step's current, then >= 2 at the high step's"
          % (label, DCIR_SAMPLES_PER_STEP), steps)
    if not lo or not hi:
        return
    v1 = lo[-1]
    check((v1["voltage_v"], v1["current_a"]) == (dcir["v1_v"], dcir["i1_a"]),
          "%s: the low step's last sample is the reply's V1 and I1" % label, (v1, dcir))
    check(all(0 < s["t_ms"] <= low_ms + 50 for s in lo) and v1["t_ms"] >= low_ms
          and all(s["t_ms"] >= v1["t_ms"] + DCIR_SAMPLE_SETTLE_MS for s in hi_points)
          and all(low_ms < s["t_ms"] < low_ms + high_ms + 50 for s in hi),
          "%s: DCIR samples lie in their steps, the high step's first %d ms after the change"
          % (label, DCIR_SAMPLE_SETTLE_MS), [(s["t_ms"], step(s)) for s in samples])
    check(rest["voltage_v"] > max(s["voltage_v"] for s in lo) and min(s["voltage_v"] for s in lo)
          > max(s["voltage_v"] for s in hi),
          "%s: DCIR samples show the drop under load: rest > low step > high step" % label,
          [(s["voltage_v"], step(s)) for s in samples])


def check_reset(c, label, pings_to_reset):
    jig = c.jig
    h = c.hello
    r = c.call("ScreenTouch", 0)
    check(is_reply(r, "TouchScan"), "%s: a touch scan before the reset" % label, r)
    since = len(jig.events)
    kept_seq = None
    unanswered = []
    booted = None
    for n in range(pings_to_reset + 2):
        seq = jig.send("Ping", n)
        r = jig.wait_reply(seq, c.timeout("Ping", n))
        if r is None:
            unanswered.append(seq)
        elif kept_seq is None:
            kept_seq = seq
        booted = jig.wait_event(lambda e: e[0] == "Booted", 0.2 if r is not None else 2.0, since)
        if booted:
            break
    if not check(booted is not None, "%s: the jig resets (Booted event) at ping #%d" % (label, pings_to_reset)):
        return
    jig.settle(0.3)
    new_boot = booted[1][1]["boot_id"]
    check(booted[0] == 0, "%s: Booted is event number 0" % label, booted[0])
    check(new_boot != h["boot_id"], "%s: Booted carries a new boot_id" % label, (hex(h["boot_id"]), hex(new_boot)))
    after = jig.events[jig.events.index(booted):]
    inserted = [(n, e[1]["slot"]) for n, e in after if e[0] == "PhoneInserted"]
    check(inserted[:h["slots"]] == [(i + 1, i) for i in range(h["slots"])],
          "%s: PhoneInserted re-sent for every seated phone, in slot order, events 1, 2, ..." % label, after)
    check(event_numbers_consecutive(jig.events), "%s: event numbers consecutive within each boot" % label,
          [n for n, _ in jig.events])
    # the handshake again (section 8, step 6)
    hello, statuses = c.handshake()
    check(is_reply(hello, "Hello") and hello[1]["boot_id"] == new_boot
          and hello[1]["schema_hash"] == SCHEMA_HASH,
          "%s: Hello after the reset gives the Booted boot_id" % label, hello)
    check(all(is_reply(s, "Slot") and s[1]["phone"] == "Seated" for s in statuses),
          "%s: SlotStatus after the reset: every phone Seated" % label, statuses)
    r = c.call("TouchRow", 0, 0)
    check(is_error(r, "NoScan"), "%s: the reset forgot the touch scan (NoScan)" % label, r)
    r = c.call("Resend", kept_seq)
    check(is_error(r, "UnknownSeq"), "%s: the reset forgot the kept replies (UnknownSeq)" % label, r)
    check(len(unanswered) == 1 and unanswered[0] not in jig.replies,
          "%s: the ping in flight at the reset is never answered" % label, unanswered)


# --------------------------------------------------------------------------------------------


def main():
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchctl", default=os.path.join(root, "target", "debug", "benchctl"))
    ap.add_argument("--verbose", action="store_true", help="print every frame to stderr")
    opts = ap.parse_args()

    _deadline[0] = time.monotonic() + RUN_LIMIT_S
    jigs = []

    def on_alarm(*_):
        for j in jigs:
            j.stop()
        print("not ok - the whole run took more than %d s" % RUN_LIMIT_S)
        print("%d passed, %d failed" % (check.passed, check.failed + 1))
        os._exit(1)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(RUN_LIMIT_S + 10)

    def start(label, args, scale):
        sim = SimJig(opts.benchctl, args + ["--time-scale", str(scale)])
        jigs.append(sim)
        if not check(sim.path and os.path.exists(sim.path),
                     "%s: benchctl sim-jig %s printed its PTY path" % (label, " ".join(args)), sim.path):
            print("# " + sim.stderr_tail().replace("\n", "\n# "))
            return None
        return Client(Jig(sim.path, opts.verbose), scale)

    sections = []

    def section(fn):
        sections.append(fn)
        return fn

    @section
    def fast_jig():
        c = start("fast", ["--slots", "2", "--seed", "3", "--serial", "CONF-A"], 0)
        if not c:
            return
        h = check_handshake(c, 2, "fast")
        if not h:
            return
        check(h["jig_serial"] == "CONF-A", "fast: Hello.jig_serial is the serial the jig was given", h["jig_serial"])
        for s in range(2):
            st = wait_seated(c, s)
            check(is_reply(st, "Slot") and st[1] == {"phone": "Seated", "busy": []},
                  "fast: slot %d has a phone Seated and idle" % s, st)
        check_procedures(c, 0, "fast slot 0")
        check_procedures(c, 1, "fast slot 1")
        busy_seq = check_errors(c, "fast")
        check_resend_fast(c, "fast", busy_seq)
        check_stream_clean(c, "fast")

    @section
    def timed_jig():
        scale = 0.05
        c = start("timed", ["--slots", "2", "--seed", "4"], scale)
        if not c or not check_handshake(c, 2, "timed"):
            return
        for s in range(2):
            wait_seated(c, s)
        check_timed(c, "timed", scale)
        check_release_next_phone(c, "timed slot 1", 1)
        check_stream_clean(c, "timed")

    @section
    def reset_jig():
        n = 3
        c = start("reset", ["--slots", "2", "--seed", "5", "--fault", "reset@ping#%d" % n], 0)
        if not c or not check_handshake(c, 2, "reset"):
            return
        for s in range(2):
            wait_seated(c, s)
        check_reset(c, "reset", n)

    check_worked_examples()
    try:
        for fn in sections:
            try:
                fn()
            except Exception as e:  # a crash in one section fails it, the others still run
                import traceback
                traceback.print_exc()
                check(False, "%s raised %s: %s" % (fn.__name__, type(e).__name__, e))
            finally:
                for j in jigs:
                    j.stop()
    finally:
        signal.alarm(0)
    print("%d passed, %d failed" % (check.passed, check.failed))
    return 0 if check.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
