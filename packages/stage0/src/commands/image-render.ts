import { imageToDirCommand } from './image-to-dir';

/** `rkt image render IMAGE OUTPUT_DIR` */
export default imageToDirCommand('render', 'Render a stored image to a directory with all its dependencies, as an app sees it', async () => (await import('../image/render')).runImageRender);
