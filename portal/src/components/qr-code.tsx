import { encode } from 'uqr';

/**
 * A QR code as inline SVG (one path of dark modules, a light quiet zone of four modules), for an
 * authenticator app to scan. Load it with React.lazy: the encoder is only needed on the pages that
 * show one, not in the first load.
 */
export default function QrCode({ value, label, size = 192 }: { value: string; label: string; size?: number }) {
  const qr = encode(value, { ecc: 'M', border: 4 });
  const n = qr.data.length;
  let d = '';
  qr.data.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (dark) d += `M${x} ${y}h1v1h-1z`;
    }),
  );
  return (
    <svg
      className="qr-code"
      role="img"
      aria-label={label}
      width={size}
      height={size}
      viewBox={`0 0 ${n} ${n}`}
      shapeRendering="crispEdges"
      data-testid="qr-code"
    >
      <rect width={n} height={n} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}
