#!/usr/bin/env python3
"""check-spec.py — fails when docs/PROTOCOL.md, the .proto files and the C code
disagree on the things a second implementation copies from them.

    scripts/check-spec.py [SOURCE_ROOT]

Checks (each compares sets extracted from the files, not line positions):

 1. Error codes: (name, number) pairs of `asylink_err` in
    include/asylink/errors.h, `ErrorCode` in broker.proto, the table of
    PROTOCOL.md section 10, and the names in core/err.c must be the same.
 2. Reserved content types: the table of PROTOCOL.md section 3.1 lists
    exactly the C constants `#define ..._CONTENT_TYPE "..."`;
    RECEIPT_CONTENT_TYPE is not marked "not a content type"; every
    "content type asylink.v1.X" (any quoting, `content_type` too) in a
    .proto comment or a document names a type of that table or a message of
    asylum.proto, and a type marked "not a content type" only in a sentence
    that says it is refused (or never used, or not a content type).
 3. Every `asylink.v1.X` named in a .proto comment or a document is a
    message or enum defined in proto/asylink/v1/*.proto.
 4. Limits: every PROTOCOL.md table row whose last cell is a C constant
    (`NAME`) states that constant's value in its second cell (as a number,
    with KiB/MiB/GiB, or for *_MS constants in h/min/s/ms).
 5. `Limits` of broker.proto has exactly the fields of the table after
    "`Limits` as sent" in PROTOCOL.md.
 6. Commands: every "`Name` (N)" in the first cell of a PROTOCOL.md table
    row is member N of `Command.body` with type Name, and every non-admin
    member has a row; every "`name` (N)" (lower case) is member N of both
    `AdminRequest.request` and `AdminResponse.response`, and every admin
    request member has a row.

Exit status 0 when everything agrees, 1 with one line per disagreement.
"""
import glob
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), ".."))
PROTO_DIR = os.path.join(ROOT, "proto", "asylink", "v1")
PROTOCOL = os.path.join(ROOT, "docs", "PROTOCOL.md")
DOCS = [PROTOCOL] + sorted(glob.glob(os.path.join(ROOT, "docs", "*.md"))) + [
    os.path.join(ROOT, "README.md"), os.path.join(ROOT, "tests", "vectors", "README.md")]
DOCS = list(dict.fromkeys(d for d in DOCS if os.path.exists(d)))
C_HEADERS = sorted(glob.glob(os.path.join(ROOT, "core", "*.h")) +
                   glob.glob(os.path.join(ROOT, "client", "*.h")) +
                   glob.glob(os.path.join(ROOT, "include", "asylink", "*.h")))

problems = []


def problem(msg):
    problems.append(msg)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rel(path):
    return os.path.relpath(path, ROOT)


# ---- sources ----

def proto_files():
    return sorted(glob.glob(os.path.join(PROTO_DIR, "*.proto")))


def strip_comments(text):
    return re.sub(r"//[^\n]*", "", text)


def proto_blocks(path):
    """Comment passages of a .proto file: a run of comment-only lines, or a
    trailing comment with the comment-only lines continuing it."""
    blocks, cur = [], None
    for line in read(path).splitlines():
        code, sep, comment = line.partition("//")
        if not sep:
            if cur is not None:
                blocks.append(cur)
            cur = None
            continue
        if code.strip():  # a trailing comment starts a passage of its own
            if cur is not None:
                blocks.append(cur)
            cur = comment.strip()
        else:
            cur = comment.strip() if cur is None else cur + " " + comment.strip()
    if cur is not None:
        blocks.append(cur)
    return blocks


def doc_blocks(path):
    """Paragraphs of a Markdown file; each table row is a passage of its own."""
    blocks, cur = [], []
    for line in read(path).splitlines():
        if line.lstrip().startswith("|"):
            if cur:
                blocks.append(" ".join(cur))
                cur = []
            blocks.append(line)
        elif not line.strip():
            if cur:
                blocks.append(" ".join(cur))
            cur = []
        else:
            cur.append(line.strip())
    if cur:
        blocks.append(" ".join(cur))
    return blocks


def md_section(text, heading_re):
    """Text of the section whose heading matches, up to the next heading of
    the same or a higher level."""
    m = re.search(r"^(#+) " + heading_re + r"[^\n]*$", text, re.M)
    if not m:
        return None
    level = len(m.group(1))
    rest = text[m.end():]
    end = re.search(r"^#{1,%d} " % level, rest, re.M)
    return rest[:end.start()] if end else rest


def table_rows(text):
    """Cells of every Markdown table row (header and separator rows too)."""
    rows = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("|") and s.endswith("|"):
            # split on | not preceded by a backslash
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", s[1:-1])]
            rows.append(cells)
    return rows


def c_defines():
    """Every #define NAME VALUE in the C headers: name -> value text."""
    out = {}
    for h in C_HEADERS:
        for m in re.finditer(r"^#define\s+([A-Z][A-Z0-9_]*)[ \t]+([^\n]*)$", read(h), re.M):
            value = re.sub(r"/\*.*?\*/", "", m.group(2)).strip()
            out.setdefault(m.group(1), value)
    return out


def c_eval(name, defs, depth=0):
    """Integer value of a #define built from integers, + - * and other such defines."""
    if depth > 10 or name not in defs:
        return None
    expr = defs[name]
    expr = re.sub(r"\b(\d+)(?:[uU]?[lL]{0,2}|[lL]{1,2}[uU]?)\b", r"\1", expr)
    for ref in set(re.findall(r"\b[A-Z][A-Z0-9_]*\b", expr)):
        v = c_eval(ref, defs, depth + 1)
        if v is None:
            return None
        expr = re.sub(r"\b%s\b" % ref, str(v), expr)
    if not re.fullmatch(r"[\d\s+*()-]+", expr):
        return None
    return int(eval(expr, {"__builtins__": {}}))  # digits and + - * ( ) only


# ---- 1. error codes ----

def check_error_codes():
    """Returns the code names (for telling check tables from limit tables)."""
    header = read(os.path.join(ROOT, "include", "asylink", "errors.h"))
    c = {}
    for m in re.finditer(r"\bASYLINK_(OK|E_([A-Z_]+))\s*=\s*(-?\d+)\s*,", header):
        c[m.group(2) or "OK"] = int(m.group(3))
    proto = strip_comments(read(os.path.join(PROTO_DIR, "broker.proto")))
    enum = re.search(r"enum ErrorCode\s*\{(.*?)\}", proto, re.S)
    p = {}
    if enum:
        for m in re.finditer(r"\bERROR_CODE_([A-Z_]+)\s*=\s*(\d+)\s*;", enum.group(1)):
            p[m.group(1)] = int(m.group(2))
    sec = md_section(read(PROTOCOL), r"10\. Error codes") or ""
    d = {}
    for cells in table_rows(sec):
        if len(cells) >= 2 and re.fullmatch(r"\d+", cells[0]) and re.fullmatch(r"[A-Z_]+", cells[1]):
            d[cells[1]] = int(cells[0])
    errc = read(os.path.join(ROOT, "core", "err.c"))
    names = {}
    for m in re.finditer(r"\{ASYLINK_(OK|E_([A-Z_]+)),\s*\"([A-Z_]+)\"", errc):
        names[m.group(2) or "OK"] = m.group(3)
    if not c or not p or not d:
        problem("error codes: could not read errors.h (%d), ErrorCode (%d) or PROTOCOL.md 10 (%d)"
                % (len(c), len(p), len(d)))
        return set(c)
    for label, other in (("ErrorCode in broker.proto", p), ("PROTOCOL.md section 10", d)):
        for name in sorted(set(c) | set(other)):
            if c.get(name) != other.get(name):
                problem("error code %s: errors.h says %s, %s says %s"
                        % (name, c.get(name), label, other.get(name)))
    for name in sorted(set(c) | set(names)):
        if names.get(name) != name:
            problem("error code %s: core/err.c names it %s" % (name, names.get(name)))
    return set(c)


# ---- 2. and 3. content types and type names ----

def defined_types():
    types, payloads = set(), set()
    for path in proto_files():
        found = set(re.findall(r"^\s*(?:message|enum)\s+(\w+)\s*\{",
                               strip_comments(read(path)), re.M))
        types |= found
        if os.path.basename(path) == "asylum.proto":
            payloads |= found
    return types, payloads


def passages():
    for path in proto_files():
        for b in proto_blocks(path):
            yield rel(path), b
    for path in DOCS:
        for b in doc_blocks(path):
            yield rel(path), b


def sentence(text, start, end):
    """The sentence (or clause ended by ';') of text around text[start:end]."""
    before = [m.end() for m in re.finditer(r"[.;!?]\s", text[:start])]
    after = re.search(r"[.;!?](\s|$)", text[end:])
    return text[before[-1] if before else 0:end + (after.end() if after else len(text))]


MENTION = re.compile(r"content[ _]types?[\s\"`*=:]*(asylink\.v1\.\w+)", re.I)
REFUSAL = re.compile(r"refus|not a content type|never", re.I)


def check_content_types(types, payloads):
    sec = md_section(read(PROTOCOL), r"3\.1 Content types")
    table = {}
    if sec is None:
        problem("PROTOCOL.md has no section 3.1 Content types")
    else:
        for cells in table_rows(sec):
            m = re.fullmatch(r"`(asylink\.v1\.\w+)`", cells[0]) if cells else None
            if m:
                table[m.group(1)] = "not a content type" in " ".join(cells[1:])
    defs = {}
    for h in C_HEADERS:
        for m in re.finditer(r"^#define\s+(\w*CONTENT_TYPE\w*)\s+\"([^\"]+)\"", read(h), re.M):
            defs[m.group(1)] = m.group(2)
    if set(defs.values()) != set(table):
        problem("content types: the C constants (%s) and the table of PROTOCOL.md 3.1 (%s) differ"
                % (", ".join(sorted(set(defs.values()))), ", ".join(sorted(table))))
    receipt = defs.get("RECEIPT_CONTENT_TYPE")
    if not receipt:
        problem("content types: no RECEIPT_CONTENT_TYPE in the C headers")
    elif table.get(receipt, True):
        problem("content types: %s (RECEIPT_CONTENT_TYPE) is missing from PROTOCOL.md 3.1 or "
                "marked there as not a content type" % receipt)
    for where, text in passages():
        for m in MENTION.finditer(text):
            name = m.group(1)
            short = name.split(".")[-1]
            if name not in table and short not in payloads:
                problem("%s: content type %s is neither in PROTOCOL.md 3.1 nor a payload of "
                        "asylum.proto: \"%s\"" % (where, name, text[:160]))
            elif table.get(name) and not REFUSAL.search(sentence(text, m.start(), m.end())):
                problem("%s: names %s as a content type, which PROTOCOL.md 3.1 says it is not: "
                        "\"%s\"" % (where, name, text[:160]))
        for m in re.finditer(r"\basylink\.v1\.([A-Za-z_]\w*)", text):
            if m.group(1) not in types:
                problem("%s: asylink.v1.%s is not defined in any .proto file" % (where, m.group(1)))


# ---- 4. limits named after C constants ----

UNITS = {"KiB": 1024, "MiB": 1024 ** 2, "GiB": 1024 ** 3}
TIME_UNITS = {"h": 3600000, "min": 60000, "s": 1000, "ms": 1}


def stated_values(cell, is_ms):
    cell = re.sub(r"(?<=\d)[ ,\u00a0\u202f](?=\d{3}\b)", "", cell)
    values = set()
    for m in re.finditer(r"(\d+)\s*(KiB|MiB|GiB|h|min|ms|s)?\b", cell):
        n, unit = int(m.group(1)), m.group(2)
        if unit in UNITS:
            values.add(n * UNITS[unit])
        elif unit in TIME_UNITS and is_ms:
            values.add(n * TIME_UNITS[unit])
        else:
            values.add(n)
    return values


def check_limits(codes):
    defs = c_defines()
    checked = 0
    for cells in table_rows(read(PROTOCOL)):
        if len(cells) < 3:
            continue
        m = re.fullmatch(r"`([A-Z][A-Z0-9_]+)`", cells[-1])
        if not m:
            continue
        name = m.group(1)
        if name in codes:  # a table of checks and their error codes
            continue
        value = c_eval(name, defs)
        if value is None:
            problem("PROTOCOL.md limit row names %s, which is not an integer constant in the C "
                    "headers: | %s |" % (name, " | ".join(cells)))
            continue
        checked += 1
        if value not in stated_values(cells[1], name.endswith("_MS")):
            problem("PROTOCOL.md says %s for %s, the code has %d" % (cells[1], name, value))
    if checked < 10:
        problem("PROTOCOL.md: only %d limit rows name a C constant (4.8 and 5 have more)" % checked)


# ---- 5. Limits fields ----

def proto_message_fields(text, message):
    m = re.search(r"message %s\s*\{(.*?)\n\}" % message, strip_comments(text), re.S)
    if not m:
        return None
    return set(re.findall(r"^\s*(?:repeated\s+)?[\w.]+\s+(\w+)\s*=\s*\d+\s*;", m.group(1), re.M))


def check_limits_fields():
    fields = proto_message_fields(read(os.path.join(PROTO_DIR, "broker.proto")), "Limits")
    text = read(PROTOCOL)
    at = text.find("`Limits` as sent")
    documented = set()
    if at >= 0:
        for line in text[at:].splitlines()[1:]:
            if not line.strip() and documented:
                break
            m = re.match(r"\|\s*`(\w+)`\s*\|", line.strip())
            if m:
                documented.add(m.group(1))
    if not fields or not documented or fields != documented:
        problem("Limits: broker.proto has %s, the table after \"`Limits` as sent\" in PROTOCOL.md "
                "has %s" % (sorted(fields or []), sorted(documented)))


# ---- 6. commands ----

def oneof_members(proto, message, oneof):
    m = re.search(r"message %s\s*\{.*?oneof %s\s*\{(.*?)\}" % (message, oneof), proto, re.S)
    members = {}
    if m:
        for f in re.finditer(r"^\s*(\w+)\s+(\w+)\s*=\s*(\d+)\s*;", m.group(1), re.M):
            members[int(f.group(3))] = (f.group(1), f.group(2))
    return members


def check_commands():
    proto = strip_comments(read(os.path.join(PROTO_DIR, "broker.proto")))
    commands = oneof_members(proto, "Command", "body")
    requests = oneof_members(proto, "AdminRequest", "request")
    responses = oneof_members(proto, "AdminResponse", "response")
    if not commands or not requests or not responses:
        problem("broker.proto: cannot read Command.body, AdminRequest.request or "
                "AdminResponse.response")
        return
    seen, seen_admin = set(), set()
    for cells in table_rows(read(PROTOCOL)):
        for m in re.finditer(r"`(\w+)` \((\d+)\)", cells[0] if cells else ""):
            name, number = m.group(1), int(m.group(2))
            if name[0].isupper():  # a command: `Deliver` (7), named by its type
                if commands.get(number, ("",))[0] != name:
                    problem("PROTOCOL.md table row `%s` (%d): Command.body member %d is %s"
                            % (name, number, number, commands.get(number, ("nothing",))[0]))
                seen.add(number)
            else:  # an admin member: `dead_letters` (5), named by its field
                for label, members in (("AdminRequest", requests), ("AdminResponse", responses)):
                    if members.get(number, ("", ""))[1] != name:
                        problem("PROTOCOL.md table row `%s` (%d): %s member %d is %s"
                                % (name, number, label, number,
                                   members.get(number, ("", "nothing"))[1]))
                seen_admin.add(number)
    for number, (typ, field) in sorted(commands.items()):
        if number not in seen and not typ.startswith("Admin"):
            problem("Command.body member %s %s = %d has no row in a PROTOCOL.md table"
                    % (typ, field, number))
    for number, (typ, field) in sorted(requests.items()):
        if number not in seen_admin:
            problem("AdminRequest member %s = %d has no row in PROTOCOL.md 11.12" % (field, number))


def main():
    codes = check_error_codes()
    types, payloads = defined_types()
    check_content_types(types, payloads)
    check_limits(codes)
    check_limits_fields()
    check_commands()
    for p in problems:
        print("check-spec: " + p)
    if problems:
        print("check-spec: %d disagreement(s); see the header of docs/PROTOCOL.md" % len(problems))
        return 1
    print("check-spec: PROTOCOL.md, the .proto files and the code agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
