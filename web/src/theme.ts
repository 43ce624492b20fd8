// Light or dark: follows the system until the user picks one, and remembers the pick (index.html applies it
// before the first paint).
import { createStore } from './store';

export type ThemeChoice = 'system' | 'light' | 'dark';
const STORAGE_KEY = 'nebula.theme';

function initial(): ThemeChoice {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (saved === 'light' || saved === 'dark') return saved;
  } catch {
    // storage unavailable
  }
  return 'system';
}

export const theme = createStore<ThemeChoice>(initial());

function apply(choice: ThemeChoice): void {
  const root = document.documentElement;
  if (choice === 'system') delete root.dataset.theme;
  else root.dataset.theme = choice;
}
apply(theme.get());

export function setTheme(choice: ThemeChoice): void {
  try {
    if (choice === 'system') localStorage.removeItem(STORAGE_KEY);
    else localStorage.setItem(STORAGE_KEY, choice);
  } catch {
    // applied, not remembered
  }
  theme.set(choice);
  apply(choice);
}
