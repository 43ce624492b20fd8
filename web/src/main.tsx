// Entry point: theme and language first, then the login page or the workspace of the logged-in user.
import { render, type JSX } from 'preact';
import { useEffect } from 'preact/hooks';
import './styles.css';
import './theme';
import './agent';
import './phone/phone';
import { ErrorBox, Loading } from './components/common';
import { Shell } from './components/Shell';
import { t, useLanguage } from './i18n';
import { Login } from './pages/Login';
import { navigate, path } from './router';
import { homeOf } from './routes';
import { resume, resumeError, session } from './session';
import { useStore } from './store';

function App(): JSX.Element {
  // A language switch re-renders the whole tree from here, in place: every t() reads the new language while
  // component state (open panels, filters, loaded lists, text being typed) stays.
  useLanguage();
  const current = useStore(session);
  const where = useStore(path);
  useEffect(() => {
    if (current === null && where !== '/login') navigate('/login', true);
    if (current && (where === '/login' || where === '/')) navigate(homeOf(current.me.role), true);
  }, [current, where]);
  if (current === undefined) return <Starting />;
  if (current === null) return <Login />;
  return <Shell session={current} />;
}

/** While a kept session is resumed; if the gateway cannot be reached, say so and offer to try again. */
function Starting(): JSX.Element {
  const error = useStore(resumeError);
  if (!error) return <Loading />;
  return (
    <main class="login-page" id="main">
      <ErrorBox error={error} />
      <button type="button" class="btn primary" onClick={() => void resume()}>
        {t('common.retry')}
      </button>
    </main>
  );
}

render(<App />, document.getElementById('app') as HTMLElement);
void resume();
