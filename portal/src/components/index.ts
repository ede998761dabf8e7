// The portal's shared components. Features import from here ('../../components/index.js').
export { Button, type ButtonProps, type ButtonVariant } from './button.js';
export { CopyButton, SecretReveal } from './copy.js';
export { DataTable, KeysetPager, type KeysetPagerState, Pager, pagerSteps, useKeysetPager, type Column, type PagerState } from './data-table.js';
export { ConfirmDialog, Dialog } from './dialog.js';
export { Banner, EmptyState, ErrorBanner, Progress, Spinner, StatusBadge, type StatusTone } from './feedback.js';
export { CheckboxGroup, Field, FormError, SelectField, TextField, useZodForm } from './form.js';
export { Page, Section } from './page.js';
export { SearchBox } from './search-box.js';
export { Tabs } from './tabs.js';
export { ToastProvider, useToast, type ToastTone } from './toast.js';
export { PublicShell } from './public-shell.js';
export { ChoosePasswordForm, PasswordPolicy, PASSWORD_MAX, PASSWORD_MIN } from './password.js';
export { type KeysetPageData, UrlPager, type UrlPaging, useUrlPaging } from './url-pager.js';
