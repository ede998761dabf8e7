import { useEffect, useId, useRef, useState } from 'react';

/**
 * A labelled search field that reports its value after the user pauses typing (`delay` ms), or at
 * once on Enter. Controlled from outside through `value` (e.g. a URL search param).
 */
export function SearchBox({ label, value, onSearch, placeholder, delay = 300 }: { label: string; value: string; onSearch: (value: string) => void; placeholder?: string; delay?: number }) {
  const id = useId();
  const [text, setText] = useState(value);
  const latest = useRef(onSearch);
  latest.current = onSearch;
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return;
    const timer = setTimeout(() => latest.current(text), delay);
    return () => clearTimeout(timer);
  }, [text, value, delay]);
  return (
    <form
      role="search"
      className="search-box"
      onSubmit={(event) => {
        event.preventDefault();
        latest.current(text);
      }}
    >
      <label htmlFor={id}>{label}</label>
      <input id={id} type="search" value={text} placeholder={placeholder} onChange={(e) => setText(e.target.value)} autoComplete="off" />
    </form>
  );
}
