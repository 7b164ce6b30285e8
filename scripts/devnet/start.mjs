// Launcher for a local AT Protocol network (PLC, PDS, AppView, plus the
// Ozone and bsync services that TestNetwork always brings), for tests.
// Run by scripts/bluesky-devnet under Node 22 from the install folder; it is
// copied next to the installed node_modules at each start.
//
// Environment (set by scripts/bluesky-devnet):
//   DEVNET_PORT_BASE  PLC = base, PDS = base+1, AppView = base+2, Ozone = base+3
//   DEVNET_DB_URL     postgres URL of a database this network owns
//   DEVNET_STATE_DIR  where ready.env is written once the network is up
//   REDIS_HOST        required by dev-env, unused by the AppView here
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'

// Every server in the network calls listen(port) without a host, which binds
// all interfaces. Default the host to loopback for every listen() call in
// this process (express, ws, plain http, the AppView's data plane...).
const LOOPBACK = '127.0.0.1'
const origListen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  const first = args[0]
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (args.length < 2 || args[1] === undefined || args[1] === null) {
      args[1] = LOOPBACK
    } else if (typeof args[1] !== 'string') {
      args.splice(1, 0, LOOPBACK)
    }
  } else if (
    first && typeof first === 'object' && !Array.isArray(first) &&
    first.path === undefined && first.fd === undefined && first.handle === undefined &&
    !(first instanceof net.Server) && first.host === undefined
  ) {
    args[0] = { ...first, host: LOOPBACK }
  } else if (first === undefined || typeof first === 'function') {
    // listen() / listen(cb): random port on all interfaces -> loopback
    args.unshift(0, LOOPBACK)
  }
  return origListen.apply(this, args)
}

const { TestNetwork } = await import('@atproto/dev-env')

const base = Number(process.env.DEVNET_PORT_BASE || 2582)
const dbUrl = process.env.DEVNET_DB_URL
const stateDir = process.env.DEVNET_STATE_DIR
if (!dbUrl || !stateDir) {
  console.error('start.mjs: DEVNET_DB_URL and DEVNET_STATE_DIR are required')
  process.exit(2)
}
const ports = { plc: base, pds: base + 1, bsky: base + 2, ozone: base + 3 }
const t0 = Date.now()
const log = (msg) => console.log(`[devnet +${Date.now() - t0}ms] ${msg}`)

log(`starting: PLC ${ports.plc}, PDS ${ports.pds}, AppView ${ports.bsky}, Ozone ${ports.ozone}`)
const network = await TestNetwork.create({
  dbPostgresUrl: dbUrl,
  dbPostgresSchema: 'devnet',
  plc: { port: ports.plc },
  pds: {
    port: ports.pds,
    hostname: 'localhost',
    enableDidDocWithSession: true,
  },
  bsky: {
    port: ports.bsky,
    publicUrl: `http://localhost:${ports.bsky}`,
  },
  ozone: { port: ports.ozone },
})

const url = (port) => `http://${LOOPBACK}:${port}`
const info = {
  PLC_URL: url(network.plc.port),
  PDS_URL: url(network.pds.port),
  APPVIEW_URL: url(network.bsky.port),
  OZONE_URL: url(network.ozone.port),
  PDS_DID: network.pds.ctx.cfg.service.did,
  APPVIEW_DID: network.bsky.serverDid,
  OZONE_DID: network.ozone.ctx.cfg.service.did,
  HANDLE_DOMAIN: network.pds.ctx.cfg.identity.serviceHandleDomains[0],
  DEVNET_PID: String(process.pid),
}
const envText = Object.entries(info).map(([k, v]) => `${k}=${v}`).join('\n') + '\n'
const readyPath = path.join(stateDir, 'ready.env')
fs.writeFileSync(readyPath + '.tmp', envText)
fs.renameSync(readyPath + '.tmp', readyPath)
log(`ready in ${Date.now() - t0}ms`)
process.stdout.write(envText)

let closing = false
const shutdown = async (sig) => {
  if (closing) return
  closing = true
  log(`${sig}: closing the network`)
  const timer = setTimeout(() => process.exit(0), 10_000)
  timer.unref()
  try {
    await network.close()
  } catch (err) {
    console.error('close failed:', err)
  }
  try { fs.unlinkSync(readyPath) } catch {}
  process.exit(0)
}
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
