// aedes on 127.0.0.1, for the conformance broker matrix: `node server.mjs PORT`.
// Prints "listening 127.0.0.1:PORT" once it accepts connections.
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2] ?? 1883)
const broker = await Aedes.createBroker()
const server = net.createServer(broker.handle)
server.listen(port, '127.0.0.1', () => console.log(`listening 127.0.0.1:${server.address().port}`))
process.on('SIGTERM', () => process.exit(0))
