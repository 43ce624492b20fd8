// Client routes on the History API (the gateway answers every non-API path with index.html).
import type { AnchorHTMLAttributes, ComponentChildren, JSX, TargetedMouseEvent } from 'preact';
import { createStore } from './store';

export const path = createStore<string>(location.pathname);
export const query = createStore<URLSearchParams>(new URLSearchParams(location.search));

window.addEventListener('popstate', () => {
  query.set(new URLSearchParams(location.search));
  path.set(location.pathname);
});

/** Go to a client route (keeps the browser's back button working). */
export function navigate(to: string, replace = false): void {
  const target = new URL(to, location.origin);
  if (target.pathname + target.search === location.pathname + location.search) return;
  history[replace ? 'replaceState' : 'pushState'](null, '', target.pathname + target.search);
  query.set(new URLSearchParams(target.search));
  path.set(target.pathname);
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { href: string; children?: ComponentChildren };

/** An anchor that navigates inside the app (middle-click and modifiers still open a new tab). */
export function Link({ href, children, onClick, ...rest }: LinkProps): JSX.Element {
  const click = (event: TargetedMouseEvent<HTMLAnchorElement>): void => {
    if (typeof onClick === 'function') onClick(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={click} {...rest}>
      {children}
    </a>
  );
}
