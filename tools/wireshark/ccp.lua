-- Wireshark / tshark dissector for CCP, Tandem's cluster control protocol
-- (docs/ccp.md): UDP port 8116 between the members of a gateway cluster.
--
--   tshark -X lua_script:ccp.lua -r sync.pcap -V -Y tccp
--   or copy it to ~/.local/lib/wireshark/plugins/
--
-- What is shown. The 42-byte header is cleartext (it is the AEAD's
-- associated data) and always decoded: magic, version, opcode, flags, key
-- id, cluster, sender, target, count, length, boot epoch, seq, data seq,
-- ack. The body is AES-GCM ciphertext. The dissector decrypts it, checks
-- the tag, and decodes it (heartbeat, nack ranges, full-sync request, chunk
-- and done, role claim, connection records) when it has the key:
--   * the preference "Key file" names a key file in Tandem's format
--     (docs/ccp.md, "Keys": "ID aes-256-gcm HEX [current]" a line);
--   * a cluster running without a key file (sync.key_file empty, a lab
--     setting) seals with a key derived from its cluster id, which the
--     dissector derives too (preference "Unauthenticated clusters", on).
-- Without a key whose tag verifies, the body is shown as "encrypted" with
-- its tag, and nothing of it is guessed at.
--
-- Written for Lua 5.2 (bit32), which Wireshark 4.0 ships; it also runs
-- where only the "bit" library or native operators exist.

local ccp = Proto("tccp", "Tandem Cluster Control Protocol (CCP)")

---------------------------------------------------------------------------
-- Bit operations on 32-bit unsigned integers.
local band, bor, bxor, bnot, lshift, rshift
if bit32 then
    band, bor, bxor, bnot, lshift, rshift = bit32.band, bit32.bor, bit32.bxor, bit32.bnot, bit32.lshift, bit32.rshift
else
    -- Lua 5.3+: native operators, compiled from strings so that 5.2 parses this file.
    band = load("return function(a, b) return a & b end")()
    bor = load("return function(a, b) return a | b end")()
    bxor = load("return function(a, b) return a ~ b end")()
    bnot = load("return function(a) return (~a) & 0xffffffff end")()
    lshift = load("return function(a, n) return (a << n) & 0xffffffff end")()
    rshift = load("return function(a, n) return (a & 0xffffffff) >> n end")()
end
local function rrot(x, n) return bor(rshift(x, n), lshift(x, 32 - n)) end
local function add32(...)
    local s = 0
    for _, v in ipairs({ ... }) do s = (s + v) % 4294967296 end
    return s
end

---------------------------------------------------------------------------
-- SHA-256 (FIPS 180-4), for the key of an unauthenticated cluster.
local K256 = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local function sha256(msg) -- msg: Lua string; returns a table of 32 bytes
    local h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
    local bytes = { msg:byte(1, -1) }
    local bitlen = #bytes * 8
    bytes[#bytes + 1] = 0x80
    while #bytes % 64 ~= 56 do bytes[#bytes + 1] = 0 end
    for i = 7, 0, -1 do bytes[#bytes + 1] = math.floor(bitlen / 2 ^ (8 * i)) % 256 end
    for chunk = 1, #bytes, 64 do
        local w = {}
        for i = 0, 15 do
            local j = chunk + 4 * i
            w[i] = bor(lshift(bytes[j], 24), lshift(bytes[j + 1], 16), lshift(bytes[j + 2], 8), bytes[j + 3])
        end
        for i = 16, 63 do
            local s0 = bxor(rrot(w[i - 15], 7), rrot(w[i - 15], 18), rshift(w[i - 15], 3))
            local s1 = bxor(rrot(w[i - 2], 17), rrot(w[i - 2], 19), rshift(w[i - 2], 10))
            w[i] = add32(w[i - 16], s0, w[i - 7], s1)
        end
        local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
        for i = 0, 63 do
            local S1 = bxor(rrot(e, 6), rrot(e, 11), rrot(e, 25))
            local ch = bxor(band(e, f), band(bnot(e), g))
            local t1 = add32(hh, S1, ch, K256[i + 1], w[i])
            local S0 = bxor(rrot(a, 2), rrot(a, 13), rrot(a, 22))
            local maj = bxor(band(a, b), band(a, c), band(b, c))
            local t2 = add32(S0, maj)
            hh, g, f, e, d, c, b, a = g, f, e, add32(d, t1), c, b, a, add32(t1, t2)
        end
        h[1], h[2], h[3], h[4] = add32(h[1], a), add32(h[2], b), add32(h[3], c), add32(h[4], d)
        h[5], h[6], h[7], h[8] = add32(h[5], e), add32(h[6], f), add32(h[7], g), add32(h[8], hh)
    end
    local out = {}
    for i = 1, 8 do
        for s = 24, 0, -8 do out[#out + 1] = band(rshift(h[i], s), 0xff) end
    end
    return out
end

---------------------------------------------------------------------------
-- AES (FIPS 197), encryption only: GCM needs no decryption rounds.
local SBOX = {}
do
    local p, q = 1, 1
    repeat
        -- p *= 3, q /= 3 in GF(2^8)
        p = band(bxor(p, lshift(p, 1), (band(p, 0x80) ~= 0) and 0x1b or 0), 0xff)
        q = bxor(q, lshift(q, 1)); q = bxor(q, lshift(q, 2)); q = bxor(q, lshift(q, 4)); q = band(q, 0xff)
        if band(q, 0x80) ~= 0 then q = bxor(q, 0x09) end
        local function rotl8(x, n) return band(bor(lshift(x, n), rshift(x, 8 - n)), 0xff) end
        SBOX[p] = bxor(q, rotl8(q, 1), rotl8(q, 2), rotl8(q, 3), rotl8(q, 4), 0x63)
    until p == 1
    SBOX[0] = 0x63
end

local function xtime(x)
    x = lshift(x, 1)
    if x >= 0x100 then x = bxor(x, 0x11b) end
    return x
end

-- expandKey returns the round keys as one array of bytes, and the rounds.
local function expandKey(key)
    local nk = #key / 4
    local nr = nk + 6
    local w = {}
    for i = 1, #key do w[i] = key[i] end
    local rcon = 1
    for i = nk, 4 * (nr + 1) - 1 do
        local t = { w[4 * i - 3], w[4 * i - 2], w[4 * i - 1], w[4 * i] }
        if i % nk == 0 then
            t = { bxor(SBOX[t[2]], rcon), SBOX[t[3]], SBOX[t[4]], SBOX[t[1]] }
            rcon = xtime(rcon)
        elseif nk > 6 and i % nk == 4 then
            t = { SBOX[t[1]], SBOX[t[2]], SBOX[t[3]], SBOX[t[4]] }
        end
        for j = 1, 4 do w[4 * i + j] = bxor(w[4 * (i - nk) + j], t[j]) end
    end
    return w, nr
end

local function encryptBlock(rk, nr, input)
    local s = {}
    for i = 1, 16 do s[i] = bxor(input[i], rk[i]) end
    for round = 1, nr do
        -- SubBytes and ShiftRows (state is column-major: s[4c + r + 1])
        local t = {}
        for c = 0, 3 do
            for r = 0, 3 do t[4 * c + r + 1] = SBOX[s[4 * ((c + r) % 4) + r + 1]] end
        end
        if round ~= nr then -- MixColumns
            for c = 0, 3 do
                local a0, a1, a2, a3 = t[4 * c + 1], t[4 * c + 2], t[4 * c + 3], t[4 * c + 4]
                local all = bxor(a0, a1, a2, a3)
                t[4 * c + 1] = bxor(a0, all, xtime(bxor(a0, a1)))
                t[4 * c + 2] = bxor(a1, all, xtime(bxor(a1, a2)))
                t[4 * c + 3] = bxor(a2, all, xtime(bxor(a2, a3)))
                t[4 * c + 4] = bxor(a3, all, xtime(bxor(a3, a0)))
            end
        end
        for i = 1, 16 do s[i] = bxor(t[i], rk[16 * round + i]) end
    end
    return s
end

---------------------------------------------------------------------------
-- GCM (NIST SP 800-38D) with a 96-bit nonce: decrypt and check the tag.

-- gfmul multiplies two 128-bit blocks (arrays of 4 big-endian 32-bit words).
local function gfmul(x, h)
    local z = { 0, 0, 0, 0 }
    local v = { h[1], h[2], h[3], h[4] }
    for i = 0, 127 do
        local word, bit = math.floor(i / 32) + 1, 31 - i % 32
        if band(rshift(x[word], bit), 1) == 1 then
            z[1], z[2], z[3], z[4] = bxor(z[1], v[1]), bxor(z[2], v[2]), bxor(z[3], v[3]), bxor(z[4], v[4])
        end
        local lsb = band(v[4], 1)
        v[4] = bor(rshift(v[4], 1), lshift(band(v[3], 1), 31))
        v[3] = bor(rshift(v[3], 1), lshift(band(v[2], 1), 31))
        v[2] = bor(rshift(v[2], 1), lshift(band(v[1], 1), 31))
        v[1] = rshift(v[1], 1)
        if lsb == 1 then v[1] = bxor(v[1], 0xe1000000) end
    end
    return z
end

local function words(b, off) -- 16 bytes from b[off+1..] (zero-padded) as 4 words
    local w = {}
    for i = 0, 3 do
        local x = 0
        for j = 1, 4 do x = x * 256 + (b[off + 4 * i + j] or 0) end
        w[i + 1] = x
    end
    return w
end

local function ghashUpdate(y, h, b, n) -- absorb the n bytes of b, the last block zero-padded
    for off = 0, n - 1, 16 do
        local blk = words(b, off)
        y = gfmul({ bxor(y[1], blk[1]), bxor(y[2], blk[2]), bxor(y[3], blk[3]), bxor(y[4], blk[4]) }, h)
    end
    return y
end

-- gcmOpen decrypts ct (bytes) with key (bytes), nonce (12 bytes) and aad
-- (bytes); returns the plaintext bytes, or nil if the tag does not verify.
local function gcmOpen(key, nonce, aad, ct, tag)
    local rk, nr = expandKey(key)
    local zero = {}
    for i = 1, 16 do zero[i] = 0 end
    local hb = encryptBlock(rk, nr, zero)
    local h = words(hb, 0)
    local y = { 0, 0, 0, 0 }
    y = ghashUpdate(y, h, aad, #aad)
    y = ghashUpdate(y, h, ct, #ct)
    local al, cl = #aad * 8, #ct * 8
    y = gfmul({ bxor(y[1], math.floor(al / 4294967296)), bxor(y[2], al % 4294967296),
        bxor(y[3], math.floor(cl / 4294967296)), bxor(y[4], cl % 4294967296) }, h)
    local j = {}
    for i = 1, 12 do j[i] = nonce[i] end
    j[13], j[14], j[15], j[16] = 0, 0, 0, 1
    local ek = encryptBlock(rk, nr, j)
    local want = {}
    for i = 0, 3 do
        for s = 24, 0, -8 do want[#want + 1] = bxor(band(rshift(y[i + 1], s), 0xff), ek[4 * i + 24 / 8 - s / 8 + 1]) end
    end
    for i = 1, 16 do
        if want[i] ~= tag[i] then return nil end
    end
    local pt, ctr = {}, 2
    for off = 0, #ct - 1, 16 do
        j[13], j[14], j[15], j[16] = band(rshift(ctr, 24), 0xff), band(rshift(ctr, 16), 0xff), band(rshift(ctr, 8), 0xff), band(ctr, 0xff)
        local ks = encryptBlock(rk, nr, j)
        for i = 1, math.min(16, #ct - off) do pt[off + i] = bxor(ct[off + i], ks[i]) end
        ctr = ctr + 1
    end
    return pt
end

---------------------------------------------------------------------------
-- Fields.
local OPCODES = { [1] = "HEARTBEAT", [2] = "DELTA", [3] = "ACK", [4] = "FULLSYNC_REQUEST",
    [5] = "FULLSYNC_CHUNK", [6] = "FULLSYNC_DONE", [7] = "ROLE" }
local ROLES = { [0] = "none", [1] = "active", [2] = "backup", [3] = "down" }
local REASONS = { [1] = "boot", [2] = "fell out of the retransmit window", [3] = "sender restarted",
    [4] = "digest mismatch", [5] = "operator" }
local ACTIONS = { [1] = "claim active", [2] = "release active" }
local OPS = { [1] = "new", [2] = "update", [3] = "delete" }
local NATKINDS = { [0] = "none", [1] = "snat", [2] = "dnat" }
local STATES = { [0] = "NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK",
    "TIME_WAIT", "CLOSE", "SYN_SENT2", "UDP_UNREPLIED", "UDP_REPLIED", "ICMP", "GENERIC" }

local f = ccp.fields
f.magic = ProtoField.uint16("tccp.magic", "Magic", base.HEX)
f.version = ProtoField.uint8("tccp.version", "Version")
f.opcode = ProtoField.uint8("tccp.opcode", "Opcode", base.DEC, OPCODES)
f.flags = ProtoField.uint8("tccp.flags", "Flags", base.HEX)
f.flag_ack = ProtoField.bool("tccp.flags.ack", "ACK", 8, nil, 0x01)
f.flag_rtx = ProtoField.bool("tccp.flags.retransmit", "RETRANSMIT", 8, nil, 0x02)
f.keyid = ProtoField.uint8("tccp.key_id", "Key id")
f.cluster = ProtoField.uint16("tccp.cluster", "Cluster id")
f.sender = ProtoField.uint8("tccp.sender", "Sender member")
f.target = ProtoField.uint8("tccp.target", "Target member")
f.count = ProtoField.uint16("tccp.count", "Count")
f.length = ProtoField.uint16("tccp.length", "Payload length")
f.epoch = ProtoField.uint32("tccp.epoch", "Boot epoch")
f.seq = ProtoField.uint64("tccp.seq", "Seq")
f.dataseq = ProtoField.uint64("tccp.data_seq", "Data seq")
f.ack = ProtoField.uint64("tccp.ack", "Cumulative ack")
f.payload = ProtoField.bytes("tccp.payload", "Encrypted payload")
f.tag = ProtoField.bytes("tccp.tag", "AES-GCM tag")
f.decrypted = ProtoField.string("tccp.decrypted", "Body")

f.hb_role = ProtoField.uint8("tccp.hb.role", "Role", base.DEC, ROLES)
f.hb_priority = ProtoField.uint8("tccp.hb.priority", "Priority")
f.hb_status = ProtoField.uint8("tccp.hb.status", "Status", base.HEX)
f.hb_ready = ProtoField.bool("tccp.hb.ready", "Ready", 8, nil, 0x01)
f.hb_synced = ProtoField.bool("tccp.hb.synced", "Synced", 8, nil, 0x02)
f.hb_conns = ProtoField.uint32("tccp.hb.conns", "Connections")
f.hb_time = ProtoField.uint64("tccp.hb.time", "Time (ns)")
f.hb_echo = ProtoField.uint64("tccp.hb.echo", "Echo (ns)")
f.nack_first = ProtoField.uint64("tccp.nack.first", "First missing data seq")
f.nack_last = ProtoField.uint64("tccp.nack.last", "Last missing data seq")
f.fs_reason = ProtoField.uint8("tccp.fullsync.reason", "Reason", base.DEC, REASONS)
f.fs_session = ProtoField.uint32("tccp.fullsync.session", "Session", base.HEX)
f.fs_index = ProtoField.uint32("tccp.fullsync.chunk", "Chunk index")
f.fs_cursor = ProtoField.uint32("tccp.fullsync.cursor", "Table cursor")
f.fs_chunks = ProtoField.uint32("tccp.fullsync.chunks", "Chunks sent")
f.fs_records = ProtoField.uint64("tccp.fullsync.records", "Records sent")
f.fs_digest = ProtoField.uint64("tccp.fullsync.digest", "Table digest", base.HEX)
f.role_action = ProtoField.uint8("tccp.role.action", "Action", base.DEC, ACTIONS)
f.role_priority = ProtoField.uint8("tccp.role.priority", "Priority")
f.role_term = ProtoField.uint64("tccp.role.term", "Term")

f.rec = ProtoField.bytes("tccp.rec", "Record")
f.rec_type = ProtoField.uint8("tccp.rec.type", "Type", base.HEX)
f.rec_len = ProtoField.uint8("tccp.rec.len", "Length")
f.rec_op = ProtoField.uint8("tccp.rec.op", "Op", base.DEC, OPS, 0x03)
f.rec_v6 = ProtoField.bool("tccp.rec.ipv6", "IPv6", 8, nil, 0x04)
f.rec_nat = ProtoField.uint8("tccp.rec.nat", "NAT", base.DEC, NATKINDS, 0x18)
f.rec_state = ProtoField.uint8("tccp.rec.state", "State", base.DEC, STATES, 0x0f)
f.rec_replied = ProtoField.bool("tccp.rec.seen_reply", "Seen reply", 8, nil, 0x10)
f.rec_assured = ProtoField.bool("tccp.rec.assured", "Assured", 8, nil, 0x20)
f.rec_proto = ProtoField.uint8("tccp.rec.proto", "Protocol")
f.rec_owner = ProtoField.uint8("tccp.rec.owner", "Owner member")
f.rec_src4 = ProtoField.ipv4("tccp.rec.src", "Source")
f.rec_dst4 = ProtoField.ipv4("tccp.rec.dst", "Destination")
f.rec_src6 = ProtoField.ipv6("tccp.rec.src6", "Source")
f.rec_dst6 = ProtoField.ipv6("tccp.rec.dst6", "Destination")
f.rec_sport = ProtoField.uint16("tccp.rec.sport", "Source port")
f.rec_dport = ProtoField.uint16("tccp.rec.dport", "Destination port")
f.rec_nat4 = ProtoField.ipv4("tccp.rec.nat_addr", "NAT address")
f.rec_nat6 = ProtoField.ipv6("tccp.rec.nat_addr6", "NAT address")
f.rec_natport = ProtoField.uint16("tccp.rec.nat_port", "NAT port")
f.rec_natrule = ProtoField.uint8("tccp.rec.nat_rule", "NAT rule")
f.rec_wscale = ProtoField.uint8("tccp.rec.wscale", "Window scale", base.HEX)
f.rec_version = ProtoField.uint64("tccp.rec.version", "Version")
f.rec_timeout = ProtoField.uint32("tccp.rec.timeout", "Timeout (ms)")

local e_malformed = ProtoExpert.new("tccp.malformed", "Malformed CCP", expert.group.MALFORMED, expert.severity.ERROR)
local e_encrypted = ProtoExpert.new("tccp.encrypted", "Body not decrypted: no key verifies the tag", expert.group.DECRYPTION, expert.severity.NOTE)
ccp.experts = { e_malformed, e_encrypted }

ccp.prefs.key_file = Pref.string("Key file", "", "A Tandem key file (docs/ccp.md, Keys): one 'ID aes-256-gcm HEX' a line")
ccp.prefs.unauth = Pref.bool("Unauthenticated clusters", true,
    "Try the key a cluster without sync.key_file uses (derived from its cluster id)")

---------------------------------------------------------------------------
-- Keys.
local HEADER, TAG = 42, 16
local fileKeys, fileKeysPath = {}, nil

local function hexBytes(s)
    local out = {}
    for i = 1, #s - 1, 2 do out[#out + 1] = tonumber(s:sub(i, i + 1), 16) end
    return out
end

local function loadKeys()
    local path = ccp.prefs.key_file
    if path == fileKeysPath then return end
    fileKeys, fileKeysPath = {}, path
    if path == "" then return end
    local fh = io.open(path, "r")
    if not fh then return end
    for line in fh:lines() do
        local id, alg, hex = line:match("^%s*(%d+)%s+(aes%-%d+%-gcm)%s+(%x+)")
        if id and ((alg == "aes-256-gcm" and #hex == 64) or (alg == "aes-128-gcm" and #hex == 32)) then
            local list = fileKeys[tonumber(id)] or {}
            list[#list + 1] = hexBytes(hex)
            fileKeys[tonumber(id)] = list
        end
    end
    fh:close()
end

local unauthKeys = {}
local function unauthKey(cluster)
    if not unauthKeys[cluster] then
        unauthKeys[cluster] = sha256("tandem unauthenticated cluster " .. cluster)
    end
    return unauthKeys[cluster]
end

-- open returns the plaintext bytes of the frame in tvb, and a word on the
-- key that opened it, or nil.
local function open(tvb, keyid, cluster, length)
    local raw = tvb:bytes(0, HEADER + length + TAG)
    local all = {}
    for i = 0, raw:len() - 1 do all[i + 1] = raw:get_index(i) end
    local aad, ct, tag, nonce = {}, {}, {}, {}
    for i = 1, HEADER do aad[i] = all[i] end
    for i = 1, length do ct[i] = all[HEADER + i] end
    for i = 1, TAG do tag[i] = all[HEADER + length + i] end
    nonce[1] = all[9]                               -- sender
    for i = 0, 3 do nonce[2 + i] = all[15 + i] end   -- boot epoch
    for i = 0, 6 do nonce[6 + i] = all[20 + i] end   -- low 56 bits of seq
    loadKeys()
    for _, key in ipairs(fileKeys[keyid] or {}) do
        local pt = gcmOpen(key, nonce, aad, ct, tag)
        if pt then return pt, "key " .. keyid .. " of the key file" end
    end
    if ccp.prefs.unauth and keyid == 1 then
        local pt = gcmOpen(unauthKey(cluster), nonce, aad, ct, tag)
        if pt then return pt, "the unauthenticated key of cluster " .. cluster end
    end
    return nil
end

---------------------------------------------------------------------------
-- Body decoding (on the decrypted bytes' own tvb).

local function uvarint(tvb, off, limit) -- returns a UInt64 and the bytes read, or nil
    local v, shift = UInt64(0), 0
    for i = 0, 9 do
        if off + i >= limit then return nil end
        local b = tvb(off + i, 1):uint()
        v = v:bor(UInt64(band(b, 0x7f)):lshift(shift))
        if b < 0x80 then return v, i + 1 end
        shift = shift + 7
    end
    return nil
end

local function decodeRecords(tvb, off, count, tree, pinfo, root)
    local prevVersion = UInt64(0)
    local summary = {}
    for n = 1, count do
        if off + 2 > tvb:len() then
            root:add_proto_expert_info(e_malformed, "body ends before record " .. n)
            return
        end
        local typ, len = tvb(off, 1):uint(), tvb(off + 1, 1):uint()
        if off + 2 + len > tvb:len() then
            root:add_proto_expert_info(e_malformed, "record " .. n .. " runs past the body")
            return
        end
        local rt = tree:add(f.rec, tvb(off, 2 + len))
        rt:add(f.rec_type, tvb(off, 1))
        rt:add(f.rec_len, tvb(off + 1, 1))
        local b = off + 2
        local stop = b + len
        if typ ~= 1 then
            rt:set_text(string.format("Record %d: unknown type 0x%02x, %d bytes (skipped)", n, typ, len))
        else
            local ctl = tvb(b, 1):uint()
            local v6 = band(ctl, 0x04) ~= 0
            local nat = band(rshift(ctl, 3), 3)
            local alen = v6 and 16 or 4
            local fixed = 4 + 2 * alen + 4 + (nat ~= 0 and (alen + 3) or 0) + (band(ctl, 0x40) ~= 0 and 1 or 0)
            if len < fixed then
                root:add_proto_expert_info(e_malformed, "record " .. n .. " shorter than its fields")
                return
            end
            rt:add(f.rec_op, tvb(b, 1)); rt:add(f.rec_v6, tvb(b, 1)); rt:add(f.rec_nat, tvb(b, 1))
            rt:add(f.rec_state, tvb(b + 1, 1)); rt:add(f.rec_replied, tvb(b + 1, 1)); rt:add(f.rec_assured, tvb(b + 1, 1))
            rt:add(f.rec_proto, tvb(b + 2, 1)); rt:add(f.rec_owner, tvb(b + 3, 1))
            local p = b + 4
            local src, dst
            if v6 then
                rt:add(f.rec_src6, tvb(p, 16)); rt:add(f.rec_dst6, tvb(p + 16, 16))
                src, dst = tostring(tvb(p, 16):ipv6()), tostring(tvb(p + 16, 16):ipv6())
            else
                rt:add(f.rec_src4, tvb(p, 4)); rt:add(f.rec_dst4, tvb(p + 4, 4))
                src, dst = tostring(tvb(p, 4):ipv4()), tostring(tvb(p + 4, 4):ipv4())
            end
            p = p + 2 * alen
            local sport, dport = tvb(p, 2):uint(), tvb(p + 2, 2):uint()
            rt:add(f.rec_sport, tvb(p, 2)); rt:add(f.rec_dport, tvb(p + 2, 2))
            p = p + 4
            local natText = ""
            if nat ~= 0 then
                local na = v6 and tostring(tvb(p, 16):ipv6()) or tostring(tvb(p, 4):ipv4())
                rt:add(v6 and f.rec_nat6 or f.rec_nat4, tvb(p, alen))
                rt:add(f.rec_natport, tvb(p + alen, 2)); rt:add(f.rec_natrule, tvb(p + alen + 2, 1))
                if v6 then na = "[" .. na .. "]" end
                natText = string.format(" %s %s:%d", NATKINDS[nat], na, tvb(p + alen, 2):uint())
                p = p + alen + 3
            end
            if band(ctl, 0x40) ~= 0 then
                rt:add(f.rec_wscale, tvb(p, 1)); p = p + 1
            end
            local z, vn = uvarint(tvb, p, stop)
            if not z then
                root:add_proto_expert_info(e_malformed, "record " .. n .. ": version varint runs past the record")
                return
            end
            local d = z:rshift(1)
            if z:band(UInt64(1)) == UInt64(1) then d = d:bnot() end
            local version = prevVersion + d
            prevVersion = version
            rt:add(f.rec_version, tvb(p, vn), version)
            p = p + vn
            if band(ctl, 0x20) ~= 0 then
                local t, tn = uvarint(tvb, p, stop)
                if not t then
                    root:add_proto_expert_info(e_malformed, "record " .. n .. ": timeout varint runs past the record")
                    return
                end
                rt:add(f.rec_timeout, tvb(p, tn), t:tonumber())
            end
            local state = STATES[band(tvb(b + 1, 1):uint(), 0x0f)] or "?"
            if v6 then src, dst = "[" .. src .. "]", "[" .. dst .. "]" end
            local text = string.format("%s %s:%d -> %s:%d proto %d %s%s owner %d", OPS[band(ctl, 3)] or "invalid",
                src, sport, dst, dport, tvb(b + 2, 1):uint(), state, natText, tvb(b + 3, 1):uint())
            rt:set_text(string.format("Record %d: %s", n, text))
            if n <= 3 then summary[#summary + 1] = text end
        end
        off = stop
    end
    if off ~= tvb:len() then
        root:add_proto_expert_info(e_malformed, "bytes after the last record")
    end
    pinfo.cols.info:append(" [" .. table.concat(summary, "; ") .. (count > 3 and "; ..." or "") .. "]")
end

local function decodeBody(op, count, tvb, tree, pinfo, root)
    local need = ({ [1] = 24, [4] = 8, [5] = 12, [6] = 24, [7] = 12 })[op] or 0
    if tvb:len() < need then
        root:add_proto_expert_info(e_malformed, "body shorter than its opcode needs")
        return
    end
    if op == 1 then
        tree:add(f.hb_role, tvb(0, 1)); tree:add(f.hb_priority, tvb(1, 1))
        local st = tree:add(f.hb_status, tvb(2, 1))
        st:add(f.hb_ready, tvb(2, 1)); st:add(f.hb_synced, tvb(2, 1))
        tree:add(f.hb_conns, tvb(4, 4)); tree:add(f.hb_time, tvb(8, 8)); tree:add(f.hb_echo, tvb(16, 8))
        pinfo.cols.info:append(string.format(" role=%s prio=%d conns=%d", ROLES[tvb(0, 1):uint()] or "?", tvb(1, 1):uint(), tvb(4, 4):uint()))
    elseif op == 2 then
        decodeRecords(tvb, 0, count, tree, pinfo, root)
    elseif op == 3 then
        if tvb:len() ~= 16 * count then
            root:add_proto_expert_info(e_malformed, "ACK body is not 16 bytes a nack range")
            return
        end
        for i = 0, count - 1 do
            local r = tree:add(tvb(16 * i, 16), string.format("Nack %d-%d", tvb(16 * i, 8):uint64():tonumber(), tvb(16 * i + 8, 8):uint64():tonumber()))
            r:add(f.nack_first, tvb(16 * i, 8)); r:add(f.nack_last, tvb(16 * i + 8, 8))
        end
    elseif op == 4 then
        tree:add(f.fs_reason, tvb(0, 1)); tree:add(f.fs_session, tvb(4, 4))
    elseif op == 5 then
        tree:add(f.fs_session, tvb(0, 4)); tree:add(f.fs_index, tvb(4, 4)); tree:add(f.fs_cursor, tvb(8, 4))
        decodeRecords(tvb, 12, count, tree, pinfo, root)
    elseif op == 6 then
        tree:add(f.fs_session, tvb(0, 4)); tree:add(f.fs_chunks, tvb(4, 4))
        tree:add(f.fs_records, tvb(8, 8)); tree:add(f.fs_digest, tvb(16, 8))
    elseif op == 7 then
        tree:add(f.role_action, tvb(0, 1)); tree:add(f.role_priority, tvb(1, 1)); tree:add(f.role_term, tvb(4, 8))
        pinfo.cols.info:append(string.format(" %s term=%d", ACTIONS[tvb(0, 1):uint()] or "?", tvb(4, 8):uint64():tonumber()))
    end
end

---------------------------------------------------------------------------

function ccp.dissector(tvb, pinfo, tree)
    if tvb:len() < HEADER or tvb(0, 2):uint() ~= 0x5443 then return 0 end
    pinfo.cols.protocol = "CCP"
    local length = tvb(12, 2):uint()
    local root = tree:add(ccp, tvb())
    root:add(f.magic, tvb(0, 2)); root:add(f.version, tvb(2, 1)); root:add(f.opcode, tvb(3, 1))
    local fl = root:add(f.flags, tvb(4, 1))
    fl:add(f.flag_ack, tvb(4, 1)); fl:add(f.flag_rtx, tvb(4, 1))
    root:add(f.keyid, tvb(5, 1)); root:add(f.cluster, tvb(6, 2))
    root:add(f.sender, tvb(8, 1)); root:add(f.target, tvb(9, 1))
    root:add(f.count, tvb(10, 2)); root:add(f.length, tvb(12, 2)); root:add(f.epoch, tvb(14, 4))
    root:add(f.seq, tvb(18, 8)); root:add(f.dataseq, tvb(26, 8)); root:add(f.ack, tvb(34, 8))
    local op, count, keyid, cluster = tvb(3, 1):uint(), tvb(10, 2):uint(), tvb(5, 1):uint(), tvb(6, 2):uint()
    pinfo.cols.info = string.format("%s %d->%d seq=%s", OPCODES[op] or ("opcode " .. op), tvb(8, 1):uint(), tvb(9, 1):uint(),
        tostring(tvb(18, 8):uint64()))
    if band(tvb(4, 1):uint(), 1) == 1 then pinfo.cols.info:append(" ack=" .. tostring(tvb(34, 8):uint64())) end
    if op == 2 or op == 5 then pinfo.cols.info:append(" records=" .. count) end
    if tvb:len() ~= HEADER + length + TAG then
        root:add_proto_expert_info(e_malformed, string.format("datagram is %d bytes, header says %d", tvb:len(), HEADER + length + TAG))
        return tvb:len()
    end
    root:add(f.payload, tvb(HEADER, length)); root:add(f.tag, tvb(HEADER + length, TAG))
    local pt, how = open(tvb, keyid, cluster, length)
    if not pt then
        root:add_proto_expert_info(e_encrypted)
        pinfo.cols.info:append(" (encrypted)")
        return tvb:len()
    end
    local hex = {}
    for i = 1, #pt do hex[i] = string.format("%02x", pt[i]) end
    local body = ByteArray.new(table.concat(hex)):tvb("CCP decrypted body")
    local bt = root:add(f.decrypted, "decrypted with " .. how)
    if #pt > 0 then decodeBody(op, count, body, bt, pinfo, root) end
    return tvb:len()
end

DissectorTable.get("udp.port"):add(8116, ccp)
