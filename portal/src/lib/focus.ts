import { useEffect, useRef } from 'react';
import { useLocation } from 'react-router';

/**
 * Focus management after client-side navigation: the layout marks a navigation as pending and the
 * next page heading that mounts (or the one already there) takes focus, so screen-reader and
 * keyboard users start at the new page's title instead of the old link.
 */
let pending = false;

export function markNavigation(): void {
  pending = true;
  requestAnimationFrame(() => focusHeading());
}

export function focusHeadingIfPending(el: HTMLElement | null): void {
  if (!pending || !el) return;
  pending = false;
  el.focus({ preventScroll: false });
}

function focusHeading(): void {
  if (!pending) return;
  const heading = document.querySelector<HTMLElement>('main h1');
  if (heading) {
    pending = false;
    heading.focus();
  }
}

/** Moves focus to the new page's heading after each client-side navigation (not the first load). */
export function useFocusOnNavigate() {
  const location = useLocation();
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    markNavigation();
  }, [location.pathname]);
}
