// The face of libs/repositories: what other libs, the apps and the tests use. Import it as '#libs/repositories'.
export { RepositoriesModule } from './repositories.module.js';
export { RepositoryRegistrationError, RepositoryRegistry, type RepositoryGate } from './repository-registry.js';
