// A Switchyard peer in JavaScript (js-libp2p 3.x, TCP, Noise, yamux),
// written from PROTOCOL.md alone: channels (§4), the mempool channel's
// messages (§5) and PEX (§6). The Go test integration/js_test.go drives it.
//
// It reads commands, one JSON object per line, on stdin, and writes events,
// one JSON object per line, on stdout. Each command names the node it is
// for ("node": an index given by "new"); "id" comes back with its result.
//
//   {"cmd":"new","channels":[48],"network":"switchyard"}  -> {"ev":"result","node":0,"peer":"12D3…","addrs":[…]}
//   {"cmd":"dial","node":0,"addr":"/ip4/…/p2p/…"}         -> {"ev":"result","ok":true}
//   {"cmd":"send","node":0,"peer":"…","ch":48,"hex":"10aa"} (framed, on the long-lived stream of §4.1)
//   {"cmd":"raw","node":0,"peer":"…","proto":"…","hex":"…","closeWrite":true}
//                                                          -> {"ev":"result","outcome":"eof"|"reset"|"data"|"refused"}
//   {"cmd":"pexRequest","node":0,"peer":"…"}              -> {"ev":"result","entries":[{"peer":…,"addrs":[…]}]}
//   {"cmd":"announce","node":0,"peer":"…","addrs":[…]}    -> {"ev":"result","outcome":"accepted"|"refused"|"unacknowledged"|"unexpected"}
//   {"cmd":"knows","node":0,"entries":[…]}                (addresses its PEX handler answers with)
//   {"cmd":"stop","node":0}
//
// Events it writes on its own: {"ev":"recv","node","peer","ch","hex"} for
// each message of a channel, {"ev":"streamEnd","node","peer","ch","how":
// "eof"|"reset"} when a peer's channel stream ends, {"ev":"announced",…}
// for a PEX announcement it took, {"ev":"connect"|"disconnect","node","peer"}.

// js-libp2p 3.x wants Node 22 (Promise.withResolvers); this is all it lacks
// on Node 20.
if (!Promise.withResolvers) {
  Promise.withResolvers = function () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const { createLibp2p } = await import('libp2p')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@chainsafe/libp2p-yamux')
const { tcp } = await import('@libp2p/tcp')
const { identify } = await import('@libp2p/identify')
const { peerIdFromString, peerIdFromMultihash } = await import('@libp2p/peer-id')
const { multiaddr } = await import('@multiformats/multiaddr')
const Digest = await import('multiformats/hashes/digest')
const readline = await import('node:readline')

const out = (ev) => process.stdout.write(JSON.stringify(ev) + '\n')
const hex = (b) => Buffer.from(b).toString('hex')
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'))

// --- §4.2 and §6.3: unsigned varints -------------------------------------

function uvarint (n) {
  const b = []
  while (n >= 0x80) { b.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  b.push(n)
  return b
}

// readUvarint reads a minimal varint of at most 9 bytes from buf at off;
// it returns [value, next offset], or null when buf ends first.
function readUvarint (buf, off) {
  let n = 0
  let mul = 1
  for (let i = 0; i < 9; i++) {
    if (off + i >= buf.length) return null
    const b = buf[off + i]
    n += (b & 0x7f) * mul
    if ((b & 0x80) === 0) {
      if (i > 0 && b === 0) throw new Error('non-minimal varint')
      return [n, off + i + 1]
    }
    mul *= 128
  }
  throw new Error('varint longer than 9 bytes')
}

// frames turns a stream into the messages of its frames (§4.2), throwing
// on a malformed frame or a stream that ends inside one.
async function * frames (stream, max) {
  let buf = new Uint8Array(0)
  for await (const chunk of stream) {
    const c = chunk.subarray ? chunk.subarray() : chunk
    const joined = new Uint8Array(buf.length + c.length)
    joined.set(buf)
    joined.set(c, buf.length)
    buf = joined
    for (;;) {
      const v = readUvarint(buf, 0)
      if (v === null) break
      const [len, off] = v
      if (len > max) throw new Error(`message of ${len} bytes above ${max}`)
      if (buf.length - off < len) break
      yield buf.slice(off, off + len)
      buf = buf.slice(off + len)
    }
  }
  if (buf.length > 0) throw new Error('stream ended inside a frame')
}

const frame = (msg) => new Uint8Array([...uvarint(msg.length), ...msg])

// --- §6.4: PEX messages ---------------------------------------------------

function encodeAddrs (entries) {
  const b = [0x02, ...uvarint(entries.length)]
  for (const e of entries) {
    const id = peerIdFromString(e.peer).toMultihash().bytes
    b.push(...uvarint(id.length), ...id, ...uvarint(e.addrs.length))
    for (const a of e.addrs) {
      const ab = multiaddr(a).bytes
      b.push(...uvarint(ab.length), ...ab)
    }
  }
  return new Uint8Array(b)
}

function decodeAddrs (m) {
  if (m[0] !== 0x02) throw new Error(`message type ${m[0]}, want Addrs`)
  let [n, off] = readUvarint(m, 1)
  if (n > 250) throw new Error('too many entries')
  const entries = []
  for (let i = 0; i < n; i++) {
    let k;[k, off] = readUvarint(m, off)
    const id = peerIdFromMultihash(Digest.decode(m.slice(off, off + k))).toString()
    off += k
    let cnt;[cnt, off] = readUvarint(m, off)
    const addrs = []
    for (let j = 0; j < cnt; j++) {
      let len;[len, off] = readUvarint(m, off)
      addrs.push(multiaddr(m.slice(off, off + len)).toString())
      off += len
    }
    entries.push({ peer: id, addrs })
  }
  if (off !== m.length) throw new Error('trailing bytes')
  return entries
}

// ended resolves with how a stream ended: "eof" (the remote closed its
// side), "reset", or "data" if the remote wrote something.
async function ended (stream) {
  try {
    for await (const chunk of stream) {
      if (chunk.length > 0) return 'data'
    }
    return stream.status === 'reset' ? 'reset' : 'eof'
  } catch {
    return 'reset'
  }
}

// --- nodes ------------------------------------------------------------------

const nodes = []

async function newNode (cmd) {
  const network = cmd.network ?? 'switchyard'
  const channels = cmd.channels ?? [0x30]
  const chProto = (ch) => `/switchyard/${network}/ch/${ch.toString(16).padStart(2, '0')}/1.0.0`
  const pexProto = `/switchyard/${network}/pex/1.1.0`
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  })
  const index = nodes.length
  const state = { node, network, channels, chProto, pexProto, outStreams: new Map(), knows: [] }
  nodes.push(state)
  node.addEventListener('peer:connect', (e) => out({ ev: 'connect', node: index, peer: e.detail.toString() }))
  node.addEventListener('peer:disconnect', (e) => out({ ev: 'disconnect', node: index, peer: e.detail.toString() }))
  // §4.1: read the streams peers open to us; never write on them.
  for (const ch of channels) {
    await node.handle(chProto(ch), async (stream, conn) => {
      const peer = conn.remotePeer.toString()
      try {
        for await (const msg of frames(stream, 1 << 20)) {
          out({ ev: 'recv', node: index, peer, ch, hex: hex(msg) })
        }
        out({ ev: 'streamEnd', node: index, peer, ch, how: 'eof' })
        await stream.close() // §4.4: close our side once we have read everything
      } catch (err) {
        out({ ev: 'streamEnd', node: index, peer, ch, how: 'reset', err: String(err) })
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      }
    }, { maxInboundStreams: 4 })
  }
  // §6.2: answer one message per stream.
  await node.handle(pexProto, async (stream, conn) => {
    try {
      const it = frames(stream, 128 << 10)[Symbol.asyncIterator]()
      const { value: m } = await it.next()
      if (m === undefined) throw new Error('no message')
      if (m.length === 1 && m[0] === 0x01) {
        stream.send(frame(encodeAddrs(state.knows)))
      } else {
        out({ ev: 'announced', node: index, peer: conn.remotePeer.toString(), entries: decodeAddrs(m) })
        stream.send(frame(encodeAddrs([]))) // §6.2: the acknowledgement, an empty Addrs message
      }
      await stream.close()
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  })
  return { node: index, peer: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) }
}

// outStream returns our long-lived stream of a channel to a peer (§4.1).
async function outStream (state, peer, ch) {
  const key = `${peer}/${ch}`
  let s = state.outStreams.get(key)
  if (s === undefined || s.status !== 'open') {
    s = await state.node.dialProtocol(peerIdFromString(peer), state.chProto(ch))
    state.outStreams.set(key, s)
  }
  return s
}

async function handle (cmd) {
  const state = nodes[cmd.node]
  switch (cmd.cmd) {
    case 'new':
      return newNode(cmd)
    case 'dial':
      await state.node.dial(multiaddr(cmd.addr))
      return { ok: true }
    case 'send': {
      const s = await outStream(state, cmd.peer, cmd.ch)
      if (!s.send(frame(unhex(cmd.hex)))) await s.onDrain()
      return { ok: true }
    }
    case 'close': { // §4.4, graceful: half-close our stream, wait for the remote's end
      const s = await outStream(state, cmd.peer, cmd.ch)
      await s.close()
      return { outcome: await ended(s) }
    }
    case 'raw': {
      let s
      try {
        s = await state.node.dialProtocol(peerIdFromString(cmd.peer), cmd.proto)
      } catch (err) {
        return { outcome: 'refused', err: String(err) }
      }
      try {
        s.send(unhex(cmd.hex))
        if (cmd.closeWrite) await s.close()
      } catch {
        return { outcome: 'reset' } // reset before we could write
      }
      const outcome = await Promise.race([ended(s), new Promise((resolve) => setTimeout(() => resolve('open'), cmd.waitMs ?? 3000))])
      return { outcome }
    }
    case 'pexRequest': {
      const s = await state.node.dialProtocol(peerIdFromString(cmd.peer), state.pexProto)
      s.send(frame(new Uint8Array([0x01])))
      await s.close()
      try {
        const it = frames(s, 128 << 10)[Symbol.asyncIterator]()
        const { value: m } = await it.next()
        if (m === undefined) return { outcome: 'eof' }
        return { outcome: 'answered', entries: decodeAddrs(m) }
      } catch {
        return { outcome: 'reset' }
      }
    }
    case 'announce': {
      const s = await state.node.dialProtocol(peerIdFromString(cmd.peer), state.pexProto)
      s.send(frame(encodeAddrs([{ peer: state.node.peerId.toString(), addrs: cmd.addrs }])))
      await s.close()
      // §6.2: accepted only when acknowledged with an empty Addrs message.
      try {
        const it = frames(s, 128 << 10)[Symbol.asyncIterator]()
        const { value: m } = await it.next()
        if (m === undefined) return { outcome: 'unacknowledged' }
        return { outcome: m.length === 2 && m[0] === 0x02 && m[1] === 0x00 ? 'accepted' : 'unexpected' }
      } catch {
        return { outcome: 'refused' }
      }
    }
    case 'knows':
      state.knows = cmd.entries
      return { ok: true }
    case 'stop':
      await state.node.stop()
      return { ok: true }
    default:
      throw new Error(`unknown command ${cmd.cmd}`)
  }
}

const rl = readline.createInterface({ input: process.stdin })
for await (const line of rl) {
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (err) {
    out({ ev: 'result', id: null, error: `bad command: ${err}` })
    continue
  }
  // Commands run concurrently; each result carries its command's id.
  handle(cmd).then(
    (res) => { if (res !== undefined) out({ ev: 'result', id: cmd.id, ...res }) },
    (err) => out({ ev: 'result', id: cmd.id, error: String(err) })
  )
}
await Promise.all(nodes.map((s) => s.node.stop()))
process.exit(0)
