#!/usr/bin/python3
"""An independent Modbus peer for tests/drivers: a pymodbus server whose values are encoded by
pymodbus itself (BinaryPayloadBuilder), for every table x type x word order.

    pymodbus_server.py tcp              TCP server on 127.0.0.1, ephemeral port
    pymodbus_server.py rtu DEVICE       RTU server on a serial device (e.g. one end of a socat
                                        pty pair), 19200 baud, 8N1 (8E1 cannot be used on a pty:
                                        pyserial's tcsetattr with PARENB fails there, EINVAL)

The first stdout line is a JSON manifest, printed once the server is ready:
    {"pymodbus": VERSION, "port": PORT (tcp only),
     "tags": [{"name", "table", "address", "type", "word_order", "value", "length"?}, ...]}
"value" is what the client must decode: the Python value the builder was given, after rounding
to float32 for float32 tags. Runs until killed.

Word orders map onto pymodbus's two switches (byteorder = bytes within a 16-bit word, wordorder
= order of the words): ABCD = (Big, Big), CDAB = (Big, Little), BADC = (Little, Big),
DCBA = (Little, Little). pymodbus reverses all words of a 64-bit value for wordorder=Little, as
drivers/modbus_codec.h specifies. pymodbus packs strings as raw bytes whatever the byte order,
so strings are checked high byte first (ABCD) only.

Written for Debian 12's python3-pymodbus 3.0.0 (run with /usr/bin/python3).
"""
import asyncio
import json
import struct
import sys

import pymodbus
from pymodbus.constants import Endian
from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.payload import BinaryPayloadBuilder

ORDERS = {
    "ABCD": (Endian.Big, Endian.Big),
    "CDAB": (Endian.Big, Endian.Little),
    "BADC": (Endian.Little, Endian.Big),
    "DCBA": (Endian.Little, Endian.Little),
}

# type -> (builder method, value); values chosen so that every byte differs.
VALUES = {
    "int16": ("add_16bit_int", -12345),
    "uint16": ("add_16bit_uint", 0xA1B2),
    "int32": ("add_32bit_int", -123456789),
    "uint32": ("add_32bit_uint", 0xA1B2C3D4),
    "int64": ("add_64bit_int", -1234567890123456),
    "uint64": ("add_64bit_uint", 0x0102030405060708),
    "float32": ("add_32bit_float", 123.456),
    "float64": ("add_64bit_float", -9876.54321e-3),
}

FC = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}


def build():
    """Returns (context, manifest tags)."""
    size = 4096
    store = ModbusSlaveContext(
        co=ModbusSequentialDataBlock(0, [False] * size),
        di=ModbusSequentialDataBlock(0, [False] * size),
        hr=ModbusSequentialDataBlock(0, [0] * size),
        ir=ModbusSequentialDataBlock(0, [0] * size),
        zero_mode=True,  # protocol address N is data block index N
    )
    tags = []
    for table in ("holding", "input"):
        address = 0 if table == "holding" else 200
        for order, (byteorder, wordorder) in ORDERS.items():
            for type_name, (method, value) in VALUES.items():
                builder = BinaryPayloadBuilder(byteorder=byteorder, wordorder=wordorder)
                getattr(builder, method)(value)
                registers = builder.to_registers()
                store.setValues(FC[table], address, registers)
                expected = value
                if type_name == "float32":
                    expected = struct.unpack(">f", struct.pack(">f", value))[0]
                tags.append({"name": f"{table}.{type_name}.{order}", "table": table,
                             "address": address, "type": type_name, "word_order": order,
                             "value": expected})
                address += len(registers) + 1
        # A bool on bit 9 of a register.
        store.setValues(FC[table], address, [1 << 9])
        tags.append({"name": f"{table}.bit9", "table": table, "address": address,
                     "type": "bool", "bit": 9, "word_order": "ABCD", "value": 1})
        address += 1
        # A string, NUL-padded to 6 registers.
        text = "Pump-42"
        builder = BinaryPayloadBuilder(byteorder=Endian.Big, wordorder=Endian.Big)
        builder.add_string(text.encode("ascii").ljust(12, b"\0"))
        store.setValues(FC[table], address, builder.to_registers())
        tags.append({"name": f"{table}.string", "table": table, "address": address,
                     "type": "string", "length": 6, "word_order": "ABCD", "value": text})
    for table, base in (("coil", 0), ("discrete", 100)):
        bits = [(i * 7) % 3 == 0 for i in range(21)]
        store.setValues(FC[table], base, bits)
        for i, bit in enumerate(bits):
            tags.append({"name": f"{table}.{i}", "table": table, "address": base + i,
                         "type": "bool", "word_order": "ABCD", "value": int(bit)})
    return ModbusServerContext(slaves=store, single=True), tags


async def serve_tcp(context, tags):
    from pymodbus.server.async_io import ModbusTcpServer
    server = ModbusTcpServer(context, address=("127.0.0.1", 0), allow_reuse_address=True)
    task = asyncio.create_task(server.serve_forever())
    await server.serving
    port = server.server.sockets[0].getsockname()[1]
    print(json.dumps({"pymodbus": pymodbus.__version__, "port": port, "tags": tags}), flush=True)
    await task


async def serve_rtu(context, tags, device):
    from pymodbus.framer.rtu_framer import ModbusRtuFramer
    from pymodbus.server.async_io import ModbusSerialServer
    server = ModbusSerialServer(context, framer=ModbusRtuFramer, port=device, baudrate=19200,
                                bytesize=8, parity="N", stopbits=1, timeout=0.05)
    await server.start()
    print(json.dumps({"pymodbus": pymodbus.__version__, "tags": tags}), flush=True)
    await server.serve_forever()


def main():
    context, tags = build()
    if len(sys.argv) == 2 and sys.argv[1] == "tcp":
        asyncio.run(serve_tcp(context, tags))
    elif len(sys.argv) == 3 and sys.argv[1] == "rtu":
        asyncio.run(serve_rtu(context, tags, sys.argv[2]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
