/**
 * Walks MessagePack bytes and fails on anything outside the core spec types: extension types
 * (which msgpackr uses for records, undefined, dates and more) and the reserved byte 0xc1.
 * The whole buffer must be exactly one value.
 */
export function assertStandardFrame(buf: Uint8Array): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const take = (n: number) => {
    if (pos + n > buf.length) throw new Error(`truncated MessagePack at byte ${pos}`);
    const at = pos;
    pos += n;
    return at;
  };
  const value = (): void => {
    const b = buf[take(1)]!;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) return;
    if ((b & 0xf0) === 0x80) return items((b & 0x0f) * 2);
    if ((b & 0xf0) === 0x90) return items(b & 0x0f);
    if ((b & 0xe0) === 0xa0) return void take(b & 0x1f);
    switch (b) {
      case 0xcc:
      case 0xd0:
        return void take(1);
      case 0xcd:
      case 0xd1:
        return void take(2);
      case 0xce:
      case 0xd2:
      case 0xca:
        return void take(4);
      case 0xcf:
      case 0xd3:
      case 0xcb:
        return void take(8);
      case 0xd9:
      case 0xc4:
        return void take(buf[take(1)]!);
      case 0xda:
      case 0xc5:
        return void take(view.getUint16(take(2)));
      case 0xdb:
      case 0xc6:
        return void take(view.getUint32(take(4)));
      case 0xdc:
        return items(view.getUint16(take(2)));
      case 0xdd:
        return items(view.getUint32(take(4)));
      case 0xde:
        return items(view.getUint16(take(2)) * 2);
      case 0xdf:
        return items(view.getUint32(take(4)) * 2);
      default:
        throw new Error(`non-standard MessagePack type byte 0x${b.toString(16)} at byte ${pos - 1} (extension or reserved)`);
    }
  };
  const items = (n: number): void => {
    for (let i = 0; i < n; i++) value();
  };
  value();
  if (pos !== buf.length) throw new Error(`trailing bytes: the value ends at ${pos} of ${buf.length}`);
}
