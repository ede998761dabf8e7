import { Route, Routes } from 'react-router';
import { GroupPage } from './group-page.js';
import { GroupsPage } from './groups-page.js';
import { UserPage } from './user-page.js';
import { UsersPage } from './users-page.js';
import './directory.css';

/** /directory: users (the index), one user, groups, one group. */
export default function DirectoryFeature() {
  return (
    <Routes>
      <Route index element={<UsersPage />} />
      <Route path="users/:id" element={<UserPage />} />
      <Route path="groups" element={<GroupsPage />} />
      <Route path="groups/:id" element={<GroupPage />} />
    </Routes>
  );
}
